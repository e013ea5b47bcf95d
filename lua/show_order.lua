--[[
  Show one order readably, for people at a redis-cli prompt (read only; the engine never
  calls it). Prices and quantities come out as the API prints them.

    redis-cli -p 6390 --eval lua/show_order.lua 'te:{BTC-USD}:orders' 'te:{BTC-USD}:meta' , 42

  Input:
    KEYS[1] orders   the symbol's order records
    KEYS[2] meta     the symbol's meta hash (tick_size, lot_size)
    ARGV[1] the order's sequence (the number after the ':' of its id)
  Output:
    field, value, field, value, ...   or an error reply if there is no such order
]]
local ordersKey, metaKey = KEYS[1], KEYS[2]
local seq = tonumber(ARGV[1])

local raw = seq and redis.call('HGET', ordersKey, string.format('%016d', seq))
if not raw then return redis.error_reply('no such order') end
local steps = redis.call('HMGET', metaKey, 'tick_size', 'lot_size')

-- units x step as a fixed-point string with the step's decimals, exact for any size
-- (schoolbook multiplication on digit strings: no Lua double is involved).
local function times(units, step)
  if units == '' then return 'null' end
  if not step then return units end
  local int, frac = string.match(step, '^(%d+)%.?(%d*)$')
  local a, b = units, int .. frac
  local digits = {}
  for i = 1, #a + #b do digits[i] = 0 end
  for i = #a, 1, -1 do
    for j = #b, 1, -1 do
      local k = (#a - i) + (#b - j) + 1
      digits[k] = digits[k] + tonumber(string.sub(a, i, i)) * tonumber(string.sub(b, j, j))
    end
  end
  for k = 1, #digits - 1 do
    digits[k + 1] = digits[k + 1] + math.floor(digits[k] / 10)
    digits[k] = digits[k] % 10
  end
  local s = string.reverse(table.concat(digits)):gsub('^0+', '')
  if #s <= #frac then s = string.rep('0', #frac - #s + 1) .. s end
  if #frac == 0 then return s end
  return string.sub(s, 1, #s - #frac) .. '.' .. string.sub(s, #s - #frac + 1)
end

local f = {}
for v in string.gmatch(raw .. '|', '([^|]*)|') do f[#f + 1] = v end
local status = {e = 'enqueued', p = 'partially_filled', f = 'filled', k = 'killed'}
local stp = {n = 'cancel_newest', o = 'cancel_oldest', b = 'cancel_both'}
return {
  'sequence', tostring(seq), 'account_id', f[1], 'side', f[2] == 'b' and 'buy' or 'sell',
  'type', f[3] == 'l' and 'limit' or 'market', 'time_in_force', f[4],
  'price', times(f[5], steps[1]), 'quantity', times(f[6], steps[2]),
  'filled_quantity', times(f[7], steps[2]), 'status', status[f[8]] or f[8],
  'kill_reason', f[9] ~= '' and f[9] or 'null', 'created_us', f[10], 'updated_us', f[11],
  'expires_us', f[12] ~= '' and f[12] or 'null', 'post_only', f[13] == '1' and 'true' or 'false',
  'self_trade_prevention', stp[f[14]] or f[14], 'client_order_id', f[15] ~= '' and f[15] or 'null',
}
