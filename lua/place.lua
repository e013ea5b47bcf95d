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
local acct, side, otype, tif = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local priceArg, qty, expiresArg, postOnly = ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local stp, coid = ARGV[9], ARGV[10]
local maxAgeUs, matchLimit = tonumber(ARGV[11]) * 1000000, tonumber(ARGV[12])

--@include book

-- HMGET gives false (not nil) for a missing field: no status means no such symbol.
if not symbolStatus then return {-6} end

-- An order with the same client_order_id: the same order again is a replay, another is a conflict.
local coidField
if coid ~= '' then
  coidField = acct .. '|' .. coid
  local existing = redis.call('HGET', coidKey, coidField)
  if existing then
    local raw = redis.call('HGET', ordersKey, existing)
    if raw then
      local e = dec(raw)
      if e.side == side and e.type == otype and e.tif == tif and e.price == priceArg
        and e.qty == qty and e.expires == expiresArg and e.post == postOnly and e.stp == stp then
        return {1, existing, raw}
      end
      return {-2}
    end
  end
end

if symbolStatus ~= 'trading' then return {-1} end
if tif == 'GTD' and tonumber(expiresArg) <= now then return {-3} end

-- Accept: the order's sequence is its place in the queue.
local o = {
  acct = acct, side = side, type = otype, tif = tif, price = priceArg, qty = qty, filled = 0,
  status = 'e', reason = '', created = now, updated = now, expires = expiresArg,
  post = postOnly, stp = stp, coid = coid,
}
local mySeq, acceptEntry = emit({'t', 'order', 'r', enc(o)})
local member = pad(mySeq)
if coidField then redis.call('HSET', coidKey, coidField, member) end

local oppBook = (side == 'b') and asksKey or bidsKey
-- Resting orders that cross: asks scored +price (buy crosses score <= P), bids -price.
local limitScore = '+inf'
if otype == 'l' then
  limitScore = (side == 'b') and priceArg or ('-' .. priceArg)
end

local function crossing(offset, count)
  return redis.call('ZRANGE', oppBook, '-inf', limitScore, 'BYSCORE', 'LIMIT', offset, count)
end

local killReason
local out = {0, member, '' }

if postOnly == '1' and #crossing(0, 1) > 0 then
  killReason = 'post_only'
elseif tif == 'FOK' then
  -- All or nothing: walk the crossing orders as matching would, without changing anything.
  local fillable, met, offset, stop = 0, 0, 0, false
  while fillable < qty and not stop do
    local batch = crossing(offset, 64)
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      if met >= matchLimit then stop = true break end
      met = met + 1
      local r = dec(redis.call('HGET', ordersKey, m))
      if not due_reason(r, maxAgeUs) then
        if r.acct == acct then
          if stp ~= 'o' then stop = true break end
        else
          fillable = fillable + (r.qty - r.filled)
          if fillable >= qty then break end
        end
      end
    end
    offset = offset + #batch
  end
  if fillable < qty then killReason = 'fill_or_kill' end
end

if not killReason then
  local met, batchSize = 0, 8
  local remaining = qty
  while remaining > 0 and not killReason do
    local batch = crossing(0, batchSize)
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      if remaining == 0 then break end
      if met >= matchLimit then killReason = 'match_limit' break end
      met = met + 1
      local r = dec(redis.call('HGET', ordersKey, m))
      local due = due_reason(r, maxAgeUs)
      if due then
        kill(r, m, due, true)
      elseif r.acct == acct then
        if stp == 'n' then
          killReason = 'self_trade'
          break
        end
        kill(r, m, 'self_trade', true)
        if stp == 'b' then killReason = 'self_trade' break end
      else
        -- Trade at the resting order's price.
        local q = math.min(remaining, r.qty - r.filled)
        local price = r.price
        remaining = remaining - q
        o.filled = o.filled + q
        r.filled = r.filled + q
        r.updated = now
        local sq = F(q)
        local tseq = emit({'t', 'trade', 'p', price, 'q', sq, 'm', m, 'ma', r.acct,
          'mf', F(r.filled), 'k', member, 'ka', acct, 'kf', F(o.filled), 'side', side})
        local tpad = pad(tseq)
        local tnow = pad(now)
        queue_write('ZADD', tradesKey, tseq, table.concat({tpad, price, sq, side, nowF, m, member}, '|'))
        queue_write('ZADD', fillsKey, '0', table.concat({r.acct, tnow, tpad, m, r.side, 'm', price, sq}, '|'),
          '0', table.concat({acct, tnow, tpad, member, side, 't', price, sq}, '|'))
        queue_write('ZADD', ofillsKey, '0', table.concat({m, tpad, 'm', price, sq, nowF}, '|'),
          '0', table.concat({member, tpad, 't', price, sq, nowF}, '|'))
        level_change(r.side, price, -q, 0)
        if r.filled >= r.qty then
          r.status = 'f'
          unrest(r, m)
          finalize(r, m, true)
        else
          r.status = 'p'
        end
        redis.call('HSET', ordersKey, m, enc(r))
        out[#out + 1] = F(tseq)
        out[#out + 1] = price
        out[#out + 1] = sq
      end
    end
    if #batch < batchSize then break end
    batchSize = 64
  end
  if remaining > 0 and not killReason then
    if otype == 'm' then killReason = 'no_liquidity'
    elseif tif == 'IOC' then killReason = 'immediate_or_cancel'
    elseif tif == 'FOK' then killReason = 'fill_or_kill' -- unreachable after the check; kept safe
    end
  end
end

o.updated = now
local record -- the order's final record, encoded once for HSET and the reply
if o.filled >= qty then
  o.status = 'f'
  record = enc(o)
  redis.call('HSET', ordersKey, member, record)
  finalize(o, member, false)
elseif killReason then
  if o.filled > 0 then o.status = 'p' end
  kill(o, member, killReason, false)
else
  -- Rest in the book.
  if o.filled > 0 then o.status = 'p' end
  local bookKey = (side == 'b') and bidsKey or asksKey
  redis.call('ZADD', bookKey, (side == 'b') and ('-' .. priceArg) or priceArg, member)
  level_change(side, priceArg, qty - o.filled, 1)
  redis.call('ZADD', openKey, '0', index_member(o, member))
  if tif == 'GTD' then
    redis.call('ZADD', gtdKey, tonumber(expiresArg), member)
  elseif maxAgeUs > 0 then
    redis.call('RPUSH', gtcKey, member)
  end
  record = enc(o)
  redis.call('HSET', ordersKey, member, record)
end

-- The accepted entry also says how the placement ended (e/p/f/k), for the status fan-out.
acceptEntry[#acceptEntry + 1] = 'st'
acceptEntry[#acceptEntry + 1] = o.status
flush_writes()
save_meta()
out[3] = record or enc(o)
return out
