--[[
  The least a price-time matcher can do: the yardstick lua/place.lua is measured against.

  One sorted set per side (score = -price ticks for bids, +price for asks; member = the
  zero-padded sequence, so equal prices keep arrival order), one small hash per order
  (r = remaining lots, s = status), one entry per trade in a capped stream. No accounts,
  no self-trade check, no indexes, no events for accepted orders: nothing the engine must do
  beyond matching. Benchmark only (bench/run.py); the per-order hash keys are built from a
  prefix in ARGV, so this runs on a single Redis node, not on a cluster.

  Input:
    KEYS[1] bids    zset member=%016d seq, score=-price ticks
    KEYS[2] asks    zset member=%016d seq, score=+price ticks
    KEYS[3] seq     string counter
    KEYS[4] trades  stream, capped near ARGV[6]
    ARGV[1] op      'p' place a limit order | 'c' cancel one
    ARGV[2] side    'b' | 's'
    ARGV[3] place: price ticks; cancel: the order's %016d member
    ARGV[4] quantity lots (place)
    ARGV[5] prefix of the per-order hash keys
    ARGV[6] trade stream cap (place)
  Output:
    place:  {member, filled lots, status}  status 'e' resting, 'p' partly filled, 'f' filled
    cancel: 1 if the order was resting and is now cancelled, else 0
]]
local bidsKey, asksKey, seqKey, tradesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, side, prefix = ARGV[1], ARGV[2], ARGV[5]
local ownBook = (side == 'b') and bidsKey or asksKey

if op == 'c' then
  local member = ARGV[3]
  if redis.call('ZREM', ownBook, member) == 0 then return 0 end
  redis.call('HSET', prefix .. member, 's', 'c')
  return 1
end

local price, qty, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[6]
local member = string.format('%016d', redis.call('INCR', seqKey))
local oppBook = (side == 'b') and asksKey or bidsKey
-- Crossing: asks scored +price (a buy crosses score <= P), bids scored -price.
local limitScore = (side == 'b') and price or -price

local remaining = qty
while remaining > 0 do
  local batch = redis.call('ZRANGE', oppBook, '-inf', limitScore, 'BYSCORE', 'LIMIT', 0, 16, 'WITHSCORES')
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local m = batch[i]
    local mkey = prefix .. m
    local left = tonumber(redis.call('HGET', mkey, 'r'))
    local q = math.min(remaining, left)
    local tradePrice = math.abs(tonumber(batch[i + 1]))
    remaining = remaining - q
    redis.call('XADD', tradesKey, 'MAXLEN', '~', cap, '*', 'p', tradePrice, 'q', q, 'm', m, 't', member)
    if q == left then
      redis.call('ZREM', oppBook, m)
      redis.call('HSET', mkey, 'r', 0, 's', 'f')
    else
      redis.call('HSET', mkey, 'r', left - q, 's', 'p')
    end
    if remaining == 0 then break end
  end
  if #batch < 32 then break end
end

local status = (remaining == 0) and 'f' or ((remaining < qty) and 'p' or 'e')
redis.call('HSET', prefix .. member, 'r', remaining, 's', status)
if remaining > 0 then
  redis.call('ZADD', ownBook, (side == 'b') and -price or price, member)
end
return {member, qty - remaining, status}
