--[[
  Kill resting orders that are due, oldest deadline first, in one bounded batch.

  Input:
    KEYS[1..17]  the symbol's book keys, see lua/include/book.lua
    ARGV[1]  ORDER_MAX_AGE seconds (0 = off)
    ARGV[2]  the most orders to kill in this call
  Output:
    {killed_expired, killed_max_age, more, lateness_us...}
      more = 1 when due orders may be left for another call (the budget ran out, or the
      max-age sweep reached its scan bound first); lateness per kill (now - deadline)
  Each candidate is re-checked here: an order filled or cancelled first is left alone.
]]
local maxAgeUs, budget = tonumber(ARGV[1]) * 1000000, tonumber(ARGV[2])

--@include book

local expired, aged, more, lateness = 0, 0, 0, {}

-- GTD: the deadline zset holds resting GTD orders only.
local due = redis.call('ZRANGE', gtdKey, '-inf', F(now), 'BYSCORE', 'LIMIT', 0, budget + 1)
for i, member in ipairs(due) do
  if i > budget then more = 1 break end
  local raw = redis.call('HGET', ordersKey, member)
  local o = raw and dec(raw)
  if o and (o.status == 'e' or o.status == 'p') then
    lateness[#lateness + 1] = F(now - tonumber(o.expires))
    kill(o, member, 'expired', true)
    expired = expired + 1
  else
    redis.call('ZREM', gtdKey, member) -- stale entry: nothing to kill
  end
end
budget = budget - expired

-- Max age: GTC orders in acceptance order; created time never decreases along the list.
-- Entries of orders that are final already are dropped as the sweep passes them.
local scanned, finished = 0, false
while scanned < 10 * budget + 1000 do
  local head = redis.call('LRANGE', gtcKey, 0, 63)
  if #head == 0 then finished = true break end
  local popped, stop = 0, false
  for _, member in ipairs(head) do
    local raw = redis.call('HGET', ordersKey, member)
    if raw then
      local o = dec(raw)
      if o.status == 'e' or o.status == 'p' then
        if maxAgeUs == 0 or now < o.created + maxAgeUs then stop = true break end
        if budget == 0 then more = 1 stop = true break end
        lateness[#lateness + 1] = F(now - (o.created + maxAgeUs))
        kill(o, member, 'max_age', true)
        aged = aged + 1
        budget = budget - 1
      end
    end
    popped = popped + 1
  end
  if popped > 0 then redis.call('LTRIM', gtcKey, popped, -1) end
  scanned = scanned + popped
  if stop then finished = true break end
end
-- Stopped by the scan bound: due orders may still wait behind the entries not yet passed.
if not finished then more = 1 end

if expired + aged > 0 then
  flush_writes()
  save_meta()
end
local out = {expired, aged, more}
for _, l in ipairs(lateness) do out[#out + 1] = l end
return out
