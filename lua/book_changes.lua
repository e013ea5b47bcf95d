--[[
  What changed in a symbol's book after a sequence, read at one consistent sequence (read only):
  the trades after one sequence, and every price level an event after another touched, with
  the level's quantity and order count now (0 when it is gone). Levels carry values, not
  differences, so applying them to a book taken at any sequence from `from` on gives the book
  at the answer's sequence.

  Input:
    KEYS[1] meta     hash: seq
    KEYS[2] levels   hash bq<price>/bn<price>/aq<price>/an<price>: lots and orders per level
    KEYS[3] events   stream, entry id "<sequence>-0" (t=order/trade/kill, see lua/include/book.lua)
    KEYS[4] orders   hash %016d seq -> order record (account|side|type|tif|price|...)
    ARGV[1] from           levels touched by the entries after this sequence
    ARGV[2] trades_after   trades after this sequence (>= from)
    ARGV[3] max            most entries to read
  Output (two strings rather than hundreds of replies: cheaper for the client to read):
    {seq, trades, levels}
      trades  "seq,price,qty,taker side b/s,time_us;..." oldest first ('' if none)
      levels  "side b/a,price,lots,orders;..." ('' if none)
    {-1, seq}   more than max entries after `from`, `from` after seq, or the stream no longer
                holds them all (trimmed): the caller takes a snapshot instead
    {-2, seq}   an order an entry names is gone (retention): a snapshot too
]]
local metaKey, levelsKey, eventsKey, ordersKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local from, tradesAfter, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function F(n) return string.format('%d', n) end

local seq = tonumber(redis.call('HGET', metaKey, 'seq') or '0')
if from > seq or seq - from > max then return {-1, F(seq)} end
local entries = {}
if seq > from then
  entries = redis.call('XRANGE', eventsKey, F(from + 1) .. '-0', F(seq) .. '-0')
end
if #entries ~= seq - from then return {-1, F(seq)} end

local touched, order = {}, {}
local function touch(prefix, price)
  if price == nil or price == '' then return end -- a market order never rests
  local key = prefix .. price
  if not touched[key] then
    touched[key] = true
    order[#order + 1] = {prefix, price}
  end
end

-- side and price of an order record: its 2nd and 5th fields
local known = {}
local function order_level(member)
  local hit = known[member]
  if hit == nil then
    local raw = redis.call('HGET', ordersKey, member)
    if not raw then return nil end
    local side, price = string.match(raw, '^[^|]*|(%a)|[^|]*|[^|]*|([^|]*)|')
    hit = {(side == 'b') and 'b' or 'a', price}
    known[member] = hit
  end
  return hit
end

local trades = {}
local accepted = {} -- orders whose accepted entry is in the range: their level is touched
for _, entry in ipairs(entries) do
  local f = {}
  local kv = entry[2]
  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
  local entrySeq = tonumber(string.match(entry[1], '^(%d+)'))
  if f.t == 'order' then
    local side, price = string.match(f.r, '^[^|]*|(%a)|[^|]*|[^|]*|([^|]*)|')
    touch((side == 'b') and 'b' or 'a', price)
    accepted[string.format('%016d', entrySeq)] = true
  elseif f.t == 'trade' then
    -- the maker rests on the other side at the trade's price; the taker may rest after it
    touch((f.side == 'b') and 'a' or 'b', f.p)
    if not accepted[f.k] then -- `from` fell inside the taker's placement: look its level up
      local taker = order_level(f.k)
      if not taker then return {-2, F(seq)} end
      touch(taker[1], taker[2])
    end
    if entrySeq > tradesAfter then
      trades[#trades + 1] = table.concat({F(entrySeq), f.p, f.q, f.side, f.ts}, ',')
    end
  elseif f.t == 'kill' then
    local level = order_level(f.o)
    if not level then return {-2, F(seq)} end
    touch(level[1], level[2])
  end
end

local levels = {}
for _, level in ipairs(order) do
  local prefix, price = level[1], level[2]
  local v = redis.call('HMGET', levelsKey, prefix .. 'q' .. price, prefix .. 'n' .. price)
  levels[#levels + 1] = table.concat({prefix, price, v[1] or '0', v[2] or '0'}, ',')
end
return {F(seq), table.concat(trades, ';'), table.concat(levels, ';')}
