--[[
  Read a consistent depth snapshot of one symbol's book (read only).

  Input:
    KEYS[1] meta     KEYS[2] bidpx     KEYS[3] askpx     KEYS[4] levels
    ARGV[1] depth    price levels per side
  Output:
    {seq, nbids, price, lots, orders, ..., price, lots, orders, ...}  bids then asks, best first
]]
local metaKey, bidPxKey, askPxKey, levelsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local depth = tonumber(ARGV[1])

local out = {redis.call('HGET', metaKey, 'seq') or '0', 0}
local function side(pxKey, prefix)
  local prices = redis.call('ZRANGE', pxKey, 0, depth - 1)
  for _, p in ipairs(prices) do
    local v = redis.call('HMGET', levelsKey, prefix .. 'q' .. p, prefix .. 'n' .. p)
    out[#out + 1] = p
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
  end
  return #prices
end
out[2] = side(bidPxKey, 'b')
side(askPxKey, 'a')
return out
