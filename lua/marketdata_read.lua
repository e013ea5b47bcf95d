--[[
  Read a symbol's ticker state and its newest candles of one interval, consistently (read only).

  Input:
    KEYS[1] state    hash: seq, last, last_qty, last_side, last_us (see marketdata_fold.lua)
    KEYS[2] candles  hash <start s> -> "open|high|low|close|trades", v<start s> -> volume lots
    KEYS[3] index    zset member = score = start s
    ARGV[1] interval seconds
    ARGV[2] limit    most candles returned
    ARGV[3] mode     'last': the newest `limit` candles;
                     'window': only those of the `limit` intervals ending with the current one
                     (the one Redis TIME falls in), e.g. 1440 one-minute candles: the last 24 h
  Output:
    {now_us, window start s ('' in mode last), seq, last, last_qty, last_side, last_us,
     start, record, volume, start, record, volume, ...}   candles newest first; '' for a
     missing state field
]]
local stateKey, candlesKey, indexKey = KEYS[1], KEYS[2], KEYS[3]
local interval, limit, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

local function F(n) return string.format('%d', n) end

local t = redis.call('TIME')
local nowS = tonumber(t[1])
local minScore, windowStart = '-inf', ''
if mode == 'window' then
  windowStart = F(nowS - math.fmod(nowS, interval) - (limit - 1) * interval)
  minScore = windowStart
end

local out = {F(nowS * 1000000 + tonumber(t[2])), windowStart}
local state = redis.call('HMGET', stateKey, 'seq', 'last', 'last_qty', 'last_side', 'last_us')
for i = 1, 5 do out[#out + 1] = state[i] or '' end

local starts = redis.call('ZRANGE', indexKey, '+inf', minScore, 'BYSCORE', 'REV', 'LIMIT', 0, limit)
for _, start in ipairs(starts) do
  local v = redis.call('HMGET', candlesKey, start, 'v' .. start)
  out[#out + 1] = start
  out[#out + 1] = v[1] or ''
  out[#out + 1] = v[2] or '0'
end
return out
