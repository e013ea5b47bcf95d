--[[
  Cancel one order of an account (kill_reason user), atomically.

  Input:
    KEYS[1..17]  the symbol's book keys, see lua/include/book.lua
    ARGV[1]  account id (an order of another account is not found, and untouched)
    ARGV[2]  order seq   %016d
  Output:
    {0, record}    killed now
    {-5, record}   already final (order_not_open)
    {-4}           no such order of this account
]]
local acct, member = ARGV[1], ARGV[2]

--@include book

local raw = redis.call('HGET', ordersKey, member)
if not raw then return {-4} end
local o = dec(raw)
if o.acct ~= acct then return {-4} end
if o.status ~= 'e' and o.status ~= 'p' then return {-5, raw} end
kill(o, member, 'user', true)
flush_writes()
save_meta()
return {0, enc(o)}
