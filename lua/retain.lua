--[[
  Remove a symbol's final orders that have been final since before a cutoff, oldest first,
  with everything that points at them; and public trades older than the cutoff.

  Input:
    KEYS[1] orders   hash %016d seq -> order record
    KEYS[2] final    zset lex account|created %016d|seq: the final-order index
    KEYS[3] coid     hash account|client_order_id -> seq
    KEYS[4] done     list of seq in the order the orders became final
    KEYS[5] trades   zset score = trade seq, member = seq|price|qty|side|time|maker|taker
    KEYS[6] fills    zset lex account|time %016d|trade seq %016d|order seq|side|liq|price|qty
    KEYS[7] ofills   zset lex order seq|trade seq %016d|liq|price|qty|time
    ARGV[1] cutoff_us  orders final at or before this time (and trades made then) go
    ARGV[2] budget     the most orders (and, separately, trades) to remove in this call
  Output:
    {orders removed, trades removed, more (1 when the budget ran out)}

  An order's `updated` time is when it became final, and `done` is in that order (a symbol's
  clock never goes backwards), so the walk stops at the first order too recent to go.
]]
local ordersKey, finalKey, coidKey, doneKey, tradesKey, fillsKey, ofillsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local cutoff, budget = tonumber(ARGV[1]), tonumber(ARGV[2])

local function pad(n) return string.format('%016d', n) end

local removed, more = 0, 0
while true do
  local member = redis.call('LINDEX', doneKey, 0)
  if not member then break end
  if removed >= budget then more = 1 break end
  local raw = redis.call('HGET', ordersKey, member)
  if raw then
    local f, i = {}, 1
    for v in string.gmatch(raw, '([^|]*)|?') do
      f[i] = v
      i = i + 1
      if i > 15 then break end
    end
    local acct, side, status, created, updated, coid = f[1], f[2], f[8], f[10], tonumber(f[11]), f[15]
    if status ~= 'f' and status ~= 'k' then
      -- Not final (cannot happen: an order enters `done` when final); leave the record.
    elseif updated > cutoff then
      break
    else
      for _, m in ipairs(redis.call('ZRANGE', ofillsKey, '[' .. member .. '|', '(' .. member .. '}', 'BYLEX')) do
        local _, tseq, liq, price, qty, ts = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
        redis.call('ZREM', fillsKey, table.concat({acct, pad(tonumber(ts)), tseq, member, side, liq, price, qty}, '|'))
      end
      redis.call('ZREMRANGEBYLEX', ofillsKey, '[' .. member .. '|', '(' .. member .. '}')
      redis.call('ZREM', finalKey, acct .. '|' .. pad(tonumber(created)) .. '|' .. member)
      if coid ~= '' and redis.call('HGET', coidKey, acct .. '|' .. coid) == member then
        redis.call('HDEL', coidKey, acct .. '|' .. coid)
      end
      redis.call('HDEL', ordersKey, member)
    end
  end
  redis.call('LPOP', doneKey)
  removed = removed + 1
end

-- Public trades: oldest sequence first; their time is the member's fifth field.
local trades = 0
local oldest = redis.call('ZRANGE', tradesKey, 0, budget - 1)
for _, m in ipairs(oldest) do
  local ts = tonumber(string.match(m, '^[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)|'))
  if ts > cutoff then break end
  trades = trades + 1
end
if trades > 0 then redis.call('ZREMRANGEBYRANK', tradesKey, 0, trades - 1) end
if trades == budget then more = 1 end
return {removed, trades, more}
