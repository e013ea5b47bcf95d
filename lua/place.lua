--[[
  Place one order and match it against the opposite side, atomically.

  Input:
    KEYS[1..17]  the symbol's book keys, see lua/include/book.lua
    ARGV[1]  account id
    ARGV[2]  side            'b' | 's'
    ARGV[3]  type            'l' | 'm'
    ARGV[4]  time in force   'GTC' | 'IOC' | 'FOK' | 'GTD'
    ARGV[5]  price ticks     '' for a market order
    ARGV[6]  quantity lots
    ARGV[7]  expires_us      '' unless GTD
    ARGV[8]  post_only       '0' | '1'
    ARGV[9]  stp             'n' cancel_newest | 'o' cancel_oldest | 'b' cancel_both
    ARGV[10] client_order_id '' for none
    ARGV[11] ORDER_MAX_AGE seconds (0 = off)
    ARGV[12] MATCH_LIMIT

  Output:
    {0, seq, record, trade_seq, price, qty, ...}   placed (taker fills follow the record)
    {1, seq, record}                                idempotent replay of client_order_id
    or {code} with a negative code, see engine/codes.py:
      -1 symbol halted, -2 client_order_id conflict, -3 GTD already expired, -6 unknown symbol

  Events (stream KEYS[17], one entry per sequence): the accepted order, then each trade and
  each kill in the order matching met them, then the order's own kill if it does not rest.
]]
local maxAgeUs, matchLimit = tonumber(ARGV[11]) * 1000000, tonumber(ARGV[12])

--@include book
--@include place_one

local out = place_one(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10])
-- Nothing is written for a refused order or a replay (no entry was emitted).
if nEntries > 0 then
  flush_writes()
  save_meta()
end
return out
