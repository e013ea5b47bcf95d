--[[
  Place several orders of one symbol, one after another, in one script call.

  Each order is placed and matched exactly as lua/place.lua places it (lua/include/
  place_one.lua is that script's body), in the order given, each seeing the book the ones
  before it left; the call is atomic as a whole, which includes each order being atomic on
  its own. All the orders of a call share its exchange time (the clock is read once); their
  sequences rise in the order given. What a call of its own per order would repeat is done
  once: reading and saving the clock and sequence, loading KEYS and the settings, and one
  write per index (final orders, fills, trades) for all the orders together.

  Input:
    KEYS[1..17]  the symbol's book keys, see lua/include/book.lua
    ARGV[1]  ORDER_MAX_AGE seconds (0 = off)
    ARGV[2]  MATCH_LIMIT
    ARGV[3..] ten per order: account id, side, type, time in force, price ticks,
             quantity lots, expires_us, post_only, stp, client_order_id (as lua/place.lua's
             ARGV[1..10])
  Output:
    {result, result, ...}  one per order, in order, each what lua/place.lua answers
]]
local maxAgeUs, matchLimit = tonumber(ARGV[1]) * 1000000, tonumber(ARGV[2])

--@include book
--@include place_one

local results = {}
for i = 3, #ARGV, 10 do
  results[#results + 1] = place_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9])
end
if nEntries > 0 then
  flush_writes()
  save_meta()
end
return results
