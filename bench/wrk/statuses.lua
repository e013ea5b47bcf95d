--[[
  wrk script: POST resting orders (BTC-USD, never crossing) with a rotating set of API keys,
  and count the answers by status class.

    wrk -t2 -c256 -d5s -s bench/wrk/statuses.lua http://127.0.0.1:PORT/api/v1/orders -- KEY...

  done() prints one line "WRK_STATUS {...}" that bench/overload.py reads: requests, 2xx,
  4xx, 5xx and other answers, socket errors (connect, read, write, timeout) and latency
  percentiles in microseconds.
]]
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

local requests, i = {}, 0

function init(args)
  s2xx, s4xx, s5xx, other = 0, 0, 0, 0
  math.randomseed(id + 1)
  for n = 1, 600 do
    local buy = n % 2 == 0
    local price = buy and math.random(90, 99) or math.random(101, 110)
    local body = string.format(
      '{"symbol":"BTC-USD","side":"%s","price":"%d.00","quantity":"0.0001"}',
      buy and "buy" or "sell", price)
    requests[n] = wrk.format("POST", wrk.path,
      {["Content-Type"] = "application/json", ["X-API-Key"] = args[(n % #args) + 1]}, body)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function response(status, headers, body)
  if status >= 500 then s5xx = s5xx + 1
  elseif status >= 400 then s4xx = s4xx + 1
  elseif status >= 200 and status < 300 then s2xx = s2xx + 1
  else other = other + 1 end
end

function done(summary, latency, _requests)
  local t2, t4, t5, to = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    t2 = t2 + thread:get("s2xx")
    t4 = t4 + thread:get("s4xx")
    t5 = t5 + thread:get("s5xx")
    to = to + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_STATUS {"requests":%d,"duration_us":%d,"s2xx":%d,"s4xx":%d,"s5xx":%d,"other":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d}\n',
    summary.requests, summary.duration, t2, t4, t5, to, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
