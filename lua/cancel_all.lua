--[[
  Cancel every open order of an account in one symbol (kill_reason user), atomically.

  Input:
    KEYS[1..17]  the symbol's book keys, see lua/include/book.lua
    ARGV[1]  account id
  Output:
    {seq, seq, ...}   the %016d seqs killed, oldest first
  Cost: one kill per open order of the account in this symbol (all in one atomic call).
]]
local acct = ARGV[1]

--@include book

local members = redis.call('ZRANGEBYLEX', openKey, '[' .. acct .. '|', '(' .. acct .. '}')
local killed = {}
for _, im in ipairs(members) do
  local member = string.sub(im, -16)
  local o = dec(redis.call('HGET', ordersKey, member))
  kill(o, member, 'user', true)
  killed[#killed + 1] = member
end
if #killed > 0 then
  flush_writes()
  save_meta()
end
return killed
