--[[
  Claim an account's webhook deliveries that are due. Each claimed one is hidden from other
  claims for a visibility timeout: if its deliverer dies, it is due again after that.

  Input:
    KEYS[1] webhook   hash url, secret
    KEYS[2] wh:due    zset "feed id|order id" -> next attempt ms (one event per order at most)
    KEYS[3] wh:tries  hash feed id -> "attempts|first attempt ms"
    KEYS[4] feed      the account's feed stream (the events' bodies)
    KEYS[5] wh:head   hash order id -> feed id being delivered
    KEYS[6] wh:wait   hash order id -> feed ids waiting behind it
    ARGV[1] the most deliveries to claim
    ARGV[2] visibility timeout ms
  Output:
    {url, secret, next due ms or '', then per delivery: member, event id, body, attempts}
    or {} when the account has no webhook.

  An event that is no longer in the feed (trimmed after ORDER_RETENTION) is given up.
]]
local webhookKey, dueKey, triesKey, feedKey, headKey, waitKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local limit, visibility = tonumber(ARGV[1]), tonumber(ARGV[2])

local hook = redis.call('HMGET', webhookKey, 'url', 'secret')
if not hook[1] then return {} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

--@include webhook_chain

local out = {hook[1], hook[2], ''}
local due = redis.call('ZRANGE', dueKey, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  local id = string.match(member, '^([^|]+)')
  local entry = redis.call('XRANGE', feedKey, id, id)
  if #entry == 0 then
    advance(member)
  else
    local fields, f = entry[1][2], {}
    for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
    local tries = redis.call('HGET', triesKey, id)
    local attempts = 0
    if tries then
      attempts = tonumber(string.match(tries, '^(%d+)'))
    else
      redis.call('HSET', triesKey, id, '0|' .. string.format('%d', now))
    end
    redis.call('ZADD', dueKey, now + visibility, member)
    out[#out + 1] = member
    out[#out + 1] = f['i']
    out[#out + 1] = f['e']
    out[#out + 1] = attempts
  end
end
out[3] = next_due()
return out
