--[[
  Shared fragment of lua/snapshot.lua and lua/book_state.lua (pasted in at load time).

  resting_json(bidsKey, asksKey, ordersKey) -> json, count
    The resting orders as a compact JSON list of [seq %016d, record] pairs: bids then asks,
    each side in matching order (best price first, then arrival). Records are the order
    hash's values unchanged (layout in lua/include/book.lua); a member without a record
    (a broken book) gives [seq, false].
]]
local function resting_json(bidsKey, asksKey, ordersKey)
  local out = {}
  for _, key in ipairs({bidsKey, asksKey}) do
    local members = redis.call('ZRANGE', key, 0, -1)
    -- HMGET in chunks: unpack() has a stack limit.
    for i = 1, #members, 1000 do
      local chunk = {}
      for j = i, math.min(i + 999, #members) do chunk[#chunk + 1] = members[j] end
      local records = redis.call('HMGET', ordersKey, unpack(chunk))
      for j, member in ipairs(chunk) do out[#out + 1] = {member, records[j]} end
    end
  end
  -- cjson writes an empty table as {}: an empty book is [].
  if #out == 0 then return '[]', 0 end
  return cjson.encode(out), #out
end
