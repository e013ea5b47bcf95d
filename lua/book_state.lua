--[[
  Read one symbol's book state and its stored snapshot in one atomic call (read only), for
  engine/replay.py: the replayed stream is compared with exactly this state.

  Input:
    KEYS[1] meta      hash: seq, last_us, status
    KEYS[2] bids      zset        KEYS[3] asks    zset
    KEYS[4] orders    hash        KEYS[5] bidpx   zset     KEYS[6] askpx   zset
    KEYS[7] levels    hash bq<price>/bn<price>/aq<price>/an<price>
    KEYS[8] snapshot  hash written by lua/snapshot.lua
  Output:
    {seq | false, last_us, resting orders JSON (as in the snapshot), bid prices, ask prices,
     levels (HGETALL list), snapshot seq | false, snapshot last_us, snapshot orders JSON}
    seq is false when the symbol has no meta hash (unknown symbol).
  Cost: as lua/snapshot.lua, O(resting orders) in one call (an operator's command).
]]
local metaKey, bidsKey, asksKey, ordersKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local bidPxKey, askPxKey, levelsKey, snapshotKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]

--@include resting

local meta = redis.call('HMGET', metaKey, 'seq', 'last_us', 'status')
if not meta[3] and not meta[1] then return {false} end
local orders = resting_json(bidsKey, asksKey, ordersKey)
local snap = redis.call('HMGET', snapshotKey, 'seq', 'last_us', 'orders')
return {
  meta[1] or '0', meta[2] or '0', orders,
  redis.call('ZRANGE', bidPxKey, 0, -1), redis.call('ZRANGE', askPxKey, 0, -1),
  redis.call('HGETALL', levelsKey),
  snap[1], snap[2] or '0', snap[3] or '[]',
}
