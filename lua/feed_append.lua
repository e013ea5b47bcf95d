--[[
  Append a symbol's events to one account's feed, each at most once, and queue them for the
  account's webhook (one order's events one after another).

  Input:
    KEYS[1] feed      stream: the account's events; the entry id is the GET /events cursor
    KEYS[2] feedhw    hash symbol -> the last symbol sequence appended (high-water mark)
    KEYS[3] webhook   hash url, secret: no url, no delivery
    KEYS[4] wh:due    zset "feed id|order id" -> next attempt ms (one event per order at most)
    KEYS[5] wh:head   hash order id -> the feed id being delivered for that order
    KEYS[6] wh:wait   hash order id -> feed ids waiting behind it, space separated
    ARGV[1] symbol
    ARGV[2..] quadruples: symbol sequence, event id, order id, event JSON (sequences ascending)
  Output:
    {appended, queued}: events appended to the feed, and how many of them went to the webhook

  A worker that dies mid-batch hands its entries to another, which calls this again with
  events already appended: those at or below the high-water mark are skipped, so no event
  is in the feed twice.
]]
local feedKey, hwKey, webhookKey, dueKey, headKey, waitKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local symbol = ARGV[1]

local hw = tonumber(redis.call('HGET', hwKey, symbol) or '0')
local hooked = redis.call('HEXISTS', webhookKey, 'url') == 1
local nowMs
if hooked then
  local t = redis.call('TIME')
  nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local appended, queued, last = 0, 0, hw
for i = 2, #ARGV, 4 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    local eventId, orderId = ARGV[i + 1], ARGV[i + 2]
    local id = redis.call('XADD', feedKey, '*', 'i', eventId, 'o', orderId, 'e', ARGV[i + 3])
    last = seq
    appended = appended + 1
    if hooked then
      local head = redis.call('HGET', headKey, orderId)
      if head then
        local waiting = redis.call('HGET', waitKey, orderId)
        redis.call('HSET', waitKey, orderId, waiting and (waiting .. ' ' .. id) or id)
      else
        redis.call('HSET', headKey, orderId, id)
        redis.call('ZADD', dueKey, nowMs, id .. '|' .. orderId)
      end
      queued = queued + 1
    end
  end
end
if last > hw then redis.call('HSET', hwKey, symbol, string.format('%d', last)) end
return {appended, queued}
