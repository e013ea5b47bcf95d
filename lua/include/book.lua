--[[
  Shared fragment of every book-changing script (pasted in at load time by engine/scripts.py).

  Every such script takes the same 17 KEYS (engine/keys.py SymbolKeys.place_keys):
    KEYS[1]  meta       hash: seq, last_us, status
    KEYS[2]  bids       zset member=%016d seq, score=-price ticks
    KEYS[3]  asks       zset member=%016d seq, score=+price ticks
    KEYS[4]  bidpx      zset one member per bid price level (score=-price)
    KEYS[5]  askpx      zset one member per ask price level (score=+price)
    KEYS[6]  levels     hash bq<price>/bn<price>/aq<price>/an<price>: lots and orders per level
    KEYS[7]  orders     hash %016d seq -> order record (see enc/dec below)
    KEYS[8]  open       zset lex  account|created_us %016d|seq %016d   (open orders)
    KEYS[9]  final      zset lex  same members                         (final orders)
    KEYS[10] coid       hash account|client_order_id -> %016d seq
    KEYS[11] gtd        zset member=%016d seq, score=expires_us (resting GTD orders)
    KEYS[12] gtc        list of %016d seq: GTC orders in acceptance order (max-age sweep)
    KEYS[13] done       list of %016d seq: orders in the order they became final (retention)
    KEYS[14] trades     zset score=trade seq, member=trade record
    KEYS[15] fills      zset lex  account|time %016d|trade seq %016d|order seq|side|liq|price|qty
    KEYS[16] ofills     zset lex  order seq %016d|trade seq %016d|liq|price|qty|time
    KEYS[17] events     stream, entry id "<sequence>-0": t=order (r record as accepted,
                        st status after its placement), t=trade, t=kill; all with ts

  Order record, '|' separated (engine/records.py reads the same layout):
    account|side b/s|type l/m|tif|price ticks|quantity lots|filled lots|status e/p/f/k|
    kill_reason|created_us|updated_us|expires_us|post_only 0/1|stp n/o/b|client_order_id

  All numbers are integers below 2^53 (ticks, lots, microseconds, sequences); F() prints
  them without exponent. Price is never multiplied by quantity here.
]]
local metaKey, bidsKey, asksKey, bidPxKey, askPxKey, levelsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ordersKey, openKey, finalKey, coidKey, gtdKey, gtcKey = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local doneKey, tradesKey, fillsKey, ofillsKey, eventsKey = KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17]

local function F(n) return string.format('%d', n) end
local function pad(n) return string.format('%016d', n) end

-- Clock and sequence: read once, written back by save_meta() at the end of the script.
local meta = redis.call('HMGET', metaKey, 'seq', 'last_us', 'status')
local seq = tonumber(meta[1] or 0) or 0
local now
do
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(meta[2] or 0) or 0
  -- Exchange time never goes backwards within a symbol, so time order = sequence order.
  if now < last then now = last end
end
local symbolStatus = meta[3]
-- Text for the clock, formatted once (every event, record and index entry carries it).
local nowF = F(now)
local nowPad = (#nowF == 16) and nowF or pad(now) -- the same text since 2001

local seqF -- the text of seq once an entry was emitted (emit() formats it for the entry id)
local function save_meta()
  redis.call('HSET', metaKey, 'seq', seqF or F(seq), 'last_us', nowF)
end

-- One pattern match (not a gmatch loop): records are decoded once per order the script meets.
local DEC = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$'
local function dec(s)
  local acct, side, otype, tif, price, qty, filled, status, reason, created, updated, expires,
    post, stp, coid = string.match(s, DEC)
  return {
    acct = acct, side = side, type = otype, tif = tif, price = price, qty = tonumber(qty),
    filled = tonumber(filled), status = status, reason = reason, created = tonumber(created),
    updated = tonumber(updated), expires = expires, post = post, stp = stp, coid = coid,
  }
end

local function enc(o)
  return table.concat({
    o.acct, o.side, o.type, o.tif, o.price, F(o.qty), F(o.filled), o.status, o.reason,
    F(o.created), F(o.updated), o.expires, o.post, o.stp, o.coid,
  }, '|')
end

local function index_member(o, member)
  return o.acct .. '|' .. (o.created == now and nowPad or pad(o.created)) .. '|' .. member
end

-- Writes to the indexes that take many members per script (final index, retention list,
-- trades, fills) are gathered in plain arrays and sent as one command each at the end, in
-- chunks (unpack has a stack limit).
local finalArgs, doneArgs, tradeArgs, fillArgs, ofillArgs = {}, {}, {}, {}, {}
local CHUNK = 4000

-- Stream entries are buffered and appended in sequence order at the end of the script, so
-- an entry can still be completed (the accepted order's outcome) before it is written.
-- emit() takes the entry's fields without its clock ('ts' is added here).
local entries, nEntries = {}, 0
-- Returns the entry's sequence, its fields and the sequence's text.
local function emit(fields)
  seq = seq + 1
  seqF = F(seq)
  local n = #fields
  fields[n + 1] = 'ts'
  fields[n + 2] = nowF
  nEntries = nEntries + 1
  entries[nEntries] = {seqF .. '-0', fields}
  return seq, fields, seqF
end

local function send(cmd, key, args)
  local n = #args
  for i = 1, n, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, n)))
  end
end

local function flush_writes()
  -- Members of sorted sets come in (score, member) pairs: chunks of CHUNK keep pairs whole.
  if #finalArgs > 0 then send('ZADD', finalKey, finalArgs) end
  if #doneArgs > 0 then send('RPUSH', doneKey, doneArgs) end
  if #tradeArgs > 0 then send('ZADD', tradesKey, tradeArgs) end
  if #fillArgs > 0 then send('ZADD', fillsKey, fillArgs) end
  if #ofillArgs > 0 then send('ZADD', ofillsKey, ofillArgs) end
  for i = 1, nEntries do
    local e = entries[i]
    redis.call('XADD', eventsKey, e[1], unpack(e[2]))
  end
end

local function level_change(side, price, dlots, dorders)
  local q = (side == 'b') and ('bq' .. price) or ('aq' .. price)
  local n = (side == 'b') and ('bn' .. price) or ('an' .. price)
  local pxKey = (side == 'b') and bidPxKey or askPxKey
  if dorders == 0 then
    if dlots ~= 0 then redis.call('HINCRBY', levelsKey, q, F(dlots)) end
    return
  end
  -- Strings, not Lua numbers, as arguments: a number is printed with "%.14g" on each call.
  local count = redis.call('HINCRBY', levelsKey, n, (dorders > 0) and '1' or '-1')
  if count <= 0 then
    redis.call('HDEL', levelsKey, q, n)
    redis.call('ZREM', pxKey, price)
  else
    if dlots ~= 0 then redis.call('HINCRBY', levelsKey, q, F(dlots)) end
    if count == 1 and dorders > 0 then
      local score = (side == 'b') and ('-' .. price) or price
      redis.call('ZADD', pxKey, score, price)
    end
  end
end

-- Take a resting order out of the book and its open index (it is final now).
local function unrest(o, member)
  local bookKey = (o.side == 'b') and bidsKey or asksKey
  redis.call('ZREM', bookKey, member)
  level_change(o.side, o.price, -(o.qty - o.filled), -1)
  if o.tif == 'GTD' then redis.call('ZREM', gtdKey, member) end
end

-- Queue a final order for the final index (member im) and the retention list.
local function to_final(im, member)
  local n = #finalArgs
  finalArgs[n + 1], finalArgs[n + 2] = '0', im
  doneArgs[#doneArgs + 1] = member
end

-- An order became final: move it from the open to the final index, queue it for retention.
local function finalize(o, member, wasOpen)
  local im = index_member(o, member)
  if wasOpen then redis.call('ZREM', openKey, im) end
  to_final(im, member)
end

-- Kill an order. resting: it is in the book now (not a taker still being placed).
local function kill(o, member, reason, resting)
  if resting then unrest(o, member) end
  o.status, o.reason, o.updated = 'k', reason, now
  redis.call('HSET', ordersKey, member, enc(o))
  emit({'t', 'kill', 'o', member, 'a', o.acct, 'why', reason, 'f', F(o.filled)})
  finalize(o, member, resting)
end

-- Is a resting order due (GTD past expires_at, GTC past created + max age)?
local function due_reason(o, maxAgeUs)
  if o.tif == 'GTD' then
    if now >= tonumber(o.expires) then return 'expired' end
  elseif o.tif == 'GTC' and maxAgeUs > 0 then
    if now >= o.created + maxAgeUs then return 'max_age' end
  end
  return nil
end
