--[[
  Shared fragment of lua/place.lua and lua/place_batch.lua (pasted in after lua/include/book.lua).

  place_one(acct, side, otype, tif, priceArg, qtyText, expiresArg, postOnly, stp, coid)
    places one order and matches it, with the script's clock and sequence; its events are
    buffered (flush_writes() and save_meta() are the caller's, once per script). Reads the
    upvalues maxAgeUs and matchLimit. Returns what lua/place.lua documents as its output.
]]
-- A resting order's record, in the parts matching needs (one match, no table):
--   pre = account|side|type|tif|price|qty; its account, tif, price and qty; filled; created;
--   tail = expires|post|stp|coid and expires. Status, kill reason and updated are rewritten.
local MAKER = '^(([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|([^|]*))|([^|]*)|[^|]*|[^|]*|([^|]*)|[^|]*|(([^|]*)|.*)$'

local function place_one(acct, side, otype, tif, priceArg, qtyText, expiresArg, postOnly, stp, coid)
  local qty = tonumber(qtyText)
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

  -- Accept: the order's sequence is its place in the queue. Its record is built by string
  -- concatenation around the fields that change (filled, status, kill reason): no table.
  local head = acct .. '|' .. side .. '|' .. otype .. '|' .. tif .. '|' .. priceArg .. '|' .. qtyText
  local tail = expiresArg .. '|' .. postOnly .. '|' .. stp .. '|' .. coid
  local accepted = head .. '|0|e||' .. nowF .. '|' .. nowF .. '|' .. tail
  local mySeq, acceptEntry = emit({'t', 'order', 'r', accepted})
  local member = pad(mySeq)
  if coidField then redis.call('HSET', coidKey, coidField, member) end

  local oppBook = (side == 'b') and asksKey or bidsKey
  local makerSide = (side == 'b') and 's' or 'b'
  -- Resting orders that cross: asks scored +price (buy crosses score <= P), bids -price.
  local limitScore = '+inf'
  if otype == 'l' then
    limitScore = (side == 'b') and priceArg or ('-' .. priceArg)
  end

  local function crossing(offset, count)
    return redis.call('ZRANGE', oppBook, '-inf', limitScore, 'BYSCORE', 'LIMIT', offset, count)
  end

  local killReason
  local out = {0, member, ''}
  local filled = 0

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
    local nOut = 3
    while remaining > 0 and not killReason do
      local batch = crossing(0, batchSize)
      local nBatch = #batch
      if nBatch == 0 then break end
      for i = 1, nBatch do
        if remaining == 0 then break end
        if met >= matchLimit then killReason = 'match_limit' break end
        met = met + 1
        local m = batch[i]
        local raw = redis.call('HGET', ordersKey, m)
        local pre, racct, rtif, price, rqty, rfilled, created, rtail, expires = string.match(raw, MAKER)
        local due
        if rtif == 'GTD' then
          if now >= tonumber(expires) then due = 'expired' end
        elseif rtif == 'GTC' and maxAgeUs > 0 and now >= tonumber(created) + maxAgeUs then
          due = 'max_age'
        end
        if due then
          kill(dec(raw), m, due, true)
        elseif racct == acct then
          if stp == 'n' then
            killReason = 'self_trade'
            break
          end
          kill(dec(raw), m, 'self_trade', true)
          if stp == 'b' then killReason = 'self_trade' break end
        else
          -- Trade at the resting order's price.
          rqty, rfilled = tonumber(rqty), tonumber(rfilled)
          local q = rqty - rfilled
          if q > remaining then q = remaining end
          remaining = remaining - q
          filled = filled + q
          rfilled = rfilled + q
          local sq, rfilledF = F(q), F(rfilled)
          local tseq, _, tseqF = emit({'t', 'trade', 'p', price, 'q', sq, 'm', m, 'ma', racct,
            'mf', rfilledF, 'k', member, 'ka', acct, 'kf', F(filled), 'side', side})
          local tpad = pad(tseq)
          local n = #tradeArgs
          tradeArgs[n + 1] = tpad
          tradeArgs[n + 2] = tpad .. '|' .. price .. '|' .. sq .. '|' .. side .. '|' .. nowF .. '|' .. m .. '|' .. member
          n = #fillArgs
          fillArgs[n + 1] = '0'
          fillArgs[n + 2] = racct .. '|' .. nowPad .. '|' .. tpad .. '|' .. m .. '|' .. makerSide .. '|m|' .. price .. '|' .. sq
          fillArgs[n + 3] = '0'
          fillArgs[n + 4] = acct .. '|' .. nowPad .. '|' .. tpad .. '|' .. member .. '|' .. side .. '|t|' .. price .. '|' .. sq
          n = #ofillArgs
          ofillArgs[n + 1] = '0'
          ofillArgs[n + 2] = m .. '|' .. tpad .. '|m|' .. price .. '|' .. sq .. '|' .. nowF
          ofillArgs[n + 3] = '0'
          ofillArgs[n + 4] = member .. '|' .. tpad .. '|t|' .. price .. '|' .. sq .. '|' .. nowF
          local rstatus
          if rfilled >= rqty then
            -- Filled: out of the book, its level, the deadlines and the open index.
            rstatus = 'f'
            redis.call('ZREM', oppBook, m)
            level_change(makerSide, price, -q, -1)
            if rtif == 'GTD' then redis.call('ZREM', gtdKey, m) end
            local im = racct .. '|' .. pad(created) .. '|' .. m
            redis.call('ZREM', openKey, im)
            to_final(im, m)
          else
            rstatus = 'p'
            level_change(makerSide, price, -q, 0)
          end
          redis.call('HSET', ordersKey, m, pre .. '|' .. rfilledF .. '|' .. rstatus .. '||' .. created .. '|' .. nowF .. '|' .. rtail)
          out[nOut + 1], out[nOut + 2], out[nOut + 3] = tseqF, price, sq
          nOut = nOut + 3
        end
      end
      if nBatch < batchSize then break end
      batchSize = 64
    end
    if remaining > 0 and not killReason then
      if otype == 'm' then killReason = 'no_liquidity'
      elseif tif == 'IOC' then killReason = 'immediate_or_cancel'
      elseif tif == 'FOK' then killReason = 'fill_or_kill' -- unreachable after the check; kept safe
      end
    end
  end

  -- The order's outcome: its record is encoded once, for HSET and the reply.
  local status, record
  local im = acct .. '|' .. nowPad .. '|' .. member
  if filled >= qty then
    status = 'f'
    record = head .. '|' .. F(filled) .. '|f||' .. nowF .. '|' .. nowF .. '|' .. tail
    redis.call('HSET', ordersKey, member, record)
    to_final(im, member)
  elseif killReason then
    status = 'k'
    record = head .. '|' .. F(filled) .. '|k|' .. killReason .. '|' .. nowF .. '|' .. nowF .. '|' .. tail
    redis.call('HSET', ordersKey, member, record)
    emit({'t', 'kill', 'o', member, 'a', acct, 'why', killReason, 'f', F(filled)})
    to_final(im, member)
  else
    -- Rest in the book.
    local left = qty - filled
    if filled > 0 then
      status = 'p'
      record = head .. '|' .. F(filled) .. '|p||' .. nowF .. '|' .. nowF .. '|' .. tail
    else
      status = 'e'
      record = accepted
    end
    if side == 'b' then
      redis.call('ZADD', bidsKey, '-' .. priceArg, member)
    else
      redis.call('ZADD', asksKey, priceArg, member)
    end
    level_change(side, priceArg, left, 1)
    redis.call('ZADD', openKey, '0', im)
    if tif == 'GTD' then
      redis.call('ZADD', gtdKey, expiresArg, member)
    elseif maxAgeUs > 0 then
      redis.call('RPUSH', gtcKey, member)
    end
    redis.call('HSET', ordersKey, member, record)
  end

  -- The accepted entry also says how the placement ended (e/p/f/k), for the status fan-out.
  local na = #acceptEntry
  acceptEntry[na + 1] = 'st'
  acceptEntry[na + 2] = status
  out[3] = record
  return out
end
