--[[
  Acknowledge a handled batch of a symbol's stream entries and count what they did, together.

  Input:
    KEYS[1] events   the symbol's stream
    KEYS[2] stats    hash: counters of handled entries (accepted, trades, filled, killed:<why>)
    ARGV[1] group    the consumer group
    ARGV[2] n        how many entry ids follow
    ARGV[3..n+2]     entry ids
    ARGV[n+3..]      pairs: counter field, increment
  Output:
    the number of entries acknowledged now

  The counters move only when every entry was still pending: a batch that another consumer
  already acknowledged (it took the entries over) was counted by that consumer.
]]
local eventsKey, statsKey = KEYS[1], KEYS[2]
local group, n = ARGV[1], tonumber(ARGV[2])

local acked = 0
if n > 0 then
  acked = redis.call('XACK', eventsKey, group, unpack(ARGV, 3, n + 2))
end
if acked == n then
  for i = n + 3, #ARGV, 2 do
    redis.call('HINCRBY', statsKey, ARGV[i], ARGV[i + 1])
  end
end
return acked
