--[[
  Fold a symbol's trades after the last one folded into its ticker state and candles,
  atomically: the high-water mark moves with the aggregates, so running it twice (a job
  retried, two workers) folds each trade exactly once.

  Input:
    KEYS[1]      trades   zset score=trade seq, member=seq %016d|price|qty|taker side|time_us|maker|taker
    KEYS[2]      state    hash: seq (last trade folded), last, last_qty, last_side, last_us
    KEYS[1+2i]   candles of interval i: hash <start s> -> "open|high|low|close|trades",
                          v<start s> -> volume lots (HINCRBY: int64)
    KEYS[2+2i]   index of interval i: zset member = score = start s
    ARGV[1]      budget   most trades this call folds; at most 1000, so that the volume a call
                          sums in Lua (doubles) stays below 2^53 (a trade is at most 10^12 lots)
    ARGV[2i], ARGV[2i+1]  interval i: length in seconds, candles kept (older ones are removed)
  Output:
    {trades folded, last trade seq folded ('0' if none ever), 1 if more trades wait else 0}
]]
local tradesKey, stateKey = KEYS[1], KEYS[2]
local budget = tonumber(ARGV[1])

local function F(n) return string.format('%d', n) end

local intervals = {}
for i = 2, #ARGV, 2 do
  local n = #intervals + 1
  intervals[n] = {
    us = tonumber(ARGV[i]) * 1000000, keep = tonumber(ARGV[i + 1]),
    hash = KEYS[1 + 2 * n], index = KEYS[2 + 2 * n], candles = {}, order = {},
  }
end

local hwm = redis.call('HGET', stateKey, 'seq') or '0'
local members = redis.call('ZRANGE', tradesKey, '(' .. hwm, '+inf', 'BYSCORE', 'LIMIT', 0, budget + 1)
local count = math.min(#members, budget)
local last

for i = 1, count do
  local seq, price, qty, side, ts = string.match(members[i], '^(%d+)|(%d+)|(%d+)|(%a)|(%d+)|')
  local p, q, t = tonumber(price), tonumber(qty), tonumber(ts)
  for _, iv in ipairs(intervals) do
    -- fmod of integers below 2^53 is exact, and so is the division of a multiple of 10^6.
    local start = F((t - math.fmod(t, iv.us)) / 1000000)
    local c = iv.candles[start]
    if not c then
      local raw = redis.call('HGET', iv.hash, start)
      if raw then
        local o, h, l, cl, n = string.match(raw, '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$')
        c = {o = tonumber(o), h = tonumber(h), l = tonumber(l), c = tonumber(cl),
             n = tonumber(n), v = 0, new = false}
      else
        c = {o = p, h = p, l = p, c = p, n = 0, v = 0, new = true}
      end
      iv.candles[start] = c
      iv.order[#iv.order + 1] = start
    end
    if p > c.h then c.h = p end
    if p < c.l then c.l = p end
    c.c = p
    c.n = c.n + 1
    c.v = c.v + q
  end
  last = {F(tonumber(seq)), price, qty, side, ts}
end

for _, iv in ipairs(intervals) do
  for _, start in ipairs(iv.order) do
    local c = iv.candles[start]
    redis.call('HSET', iv.hash, start, table.concat({F(c.o), F(c.h), F(c.l), F(c.c), F(c.n)}, '|'))
    redis.call('HINCRBY', iv.hash, 'v' .. start, F(c.v))
    if c.new then redis.call('ZADD', iv.index, start, start) end
  end
  local excess = redis.call('ZCARD', iv.index) - iv.keep
  if excess > 0 then
    for _, start in ipairs(redis.call('ZRANGE', iv.index, 0, excess - 1)) do
      redis.call('HDEL', iv.hash, start, 'v' .. start)
    end
    redis.call('ZREMRANGEBYRANK', iv.index, 0, excess - 1)
  end
end

if last then
  redis.call('HSET', stateKey, 'seq', last[1], 'last', last[2], 'last_qty', last[3],
    'last_side', last[4], 'last_us', last[5])
  hwm = last[1]
end
return {count, hwm, (#members > budget) and 1 or 0}
