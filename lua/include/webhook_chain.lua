--[[
  Shared fragment of the webhook delivery scripts (lua/webhook_*.lua): an order's events are
  delivered one after another. wh:due holds the one being delivered ("feed id|order id",
  score = next attempt ms), wh:head names it per order, wh:wait lists the order's later
  events (feed ids, space separated). Needs dueKey, triesKey, headKey, waitKey and now.
]]

-- The event `member` is done with (delivered or given up): the order's next one is due now.
local function advance(member)
  local id, orderId = string.match(member, '^([^|]+)|(.+)$')
  redis.call('ZREM', dueKey, member)
  redis.call('HDEL', triesKey, id)
  local waiting = redis.call('HGET', waitKey, orderId)
  if waiting and waiting ~= '' then
    local nextId, rest = string.match(waiting, '^(%S+)%s*(.*)$')
    redis.call('HSET', headKey, orderId, nextId)
    if rest == '' then
      redis.call('HDEL', waitKey, orderId)
    else
      redis.call('HSET', waitKey, orderId, rest)
    end
    redis.call('ZADD', dueKey, now, nextId .. '|' .. orderId)
  else
    redis.call('HDEL', headKey, orderId)
  end
end

local function next_due()
  local first = redis.call('ZRANGE', dueKey, 0, 0, 'WITHSCORES')
  if #first > 0 then return first[2] end
  return ''
end
