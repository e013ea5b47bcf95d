--[[
  wrk script: POST a rotating set of JSON bodies, each with its account's X-API-Key.

    wrk -t2 -c16 -d10s -s bench/wrk/post.lua http://127.0.0.1:PORT/api/v1/orders -- FILE

  FILE has one request per line: "<api key>\t<json body>" (bench/http.py writes it). Each
  thread starts at its own place in the list. done() prints one line "WRK_JSON {...}" that
  bench/http.py reads: requests, non-2xx/3xx responses, socket errors and latency
  percentiles in microseconds.
]]
local requests, i = {}, 0
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    local key, body = line:match("^([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", wrk.path,
      {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
  end
  i = (id * 7919) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non_2xx":%d,"connect":%d,' ..
    '"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
