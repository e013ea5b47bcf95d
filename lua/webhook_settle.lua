--[[
  Record the outcome of claimed webhook deliveries: a 2xx moves the order on to its next
  event; anything else is retried after 1, 2, 4 ... seconds (capped), until the event has
  been tried for the give-up time, when it is given up and the order moves on too.

  Input:
    KEYS[1] wh:due    zset "feed id|order id" -> next attempt ms
    KEYS[2] wh:tries  hash feed id -> "attempts|first attempt ms"
    KEYS[3] wh:head   hash order id -> feed id being delivered
    KEYS[4] wh:wait   hash order id -> feed ids waiting behind it
    ARGV[1] longest retry delay ms (60000)
    ARGV[2] give up after ms since the first attempt (86400000)
    ARGV[3..] pairs: member, '1' delivered | '0' failed
  Output:
    {delivered, failed, given_up, next due ms or ''}

  A member no longer due (the webhook was deleted meanwhile) is ignored.
]]
local dueKey, triesKey, headKey, waitKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local maxDelay, giveUp = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

--@include webhook_chain

local delivered, failed, givenUp = 0, 0, 0
for i = 3, #ARGV, 2 do
  local member, ok = ARGV[i], ARGV[i + 1] == '1'
  if redis.call('ZSCORE', dueKey, member) then
    if ok then
      advance(member)
      delivered = delivered + 1
    else
      failed = failed + 1
      local id = string.match(member, '^([^|]+)')
      local tries = redis.call('HGET', triesKey, id) or ('0|' .. string.format('%d', now))
      local attempts, first = string.match(tries, '^(%d+)|(%d+)$')
      attempts, first = tonumber(attempts) + 1, tonumber(first)
      if now - first >= giveUp then
        advance(member)
        givenUp = givenUp + 1
      else
        local delay = math.min(1000 * 2 ^ (attempts - 1), maxDelay)
        redis.call('HSET', triesKey, id, string.format('%d|%d', attempts, first))
        redis.call('ZADD', dueKey, now + delay, member)
      end
    end
  end
end
return {delivered, failed, givenUp, next_due()}
