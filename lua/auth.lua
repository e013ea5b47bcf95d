--[[
  Authenticate one API request, take its rate-limit token and remember the symbol it uses:
  one round trip before every private request (a placement is this, then lua/place.lua).

  Input:
    KEYS[1] account   hash: name, key_hash (sha256 hex of the whole key), revoked '0'|'1',
                      created_us
    KEYS[2] rate      hash: token bucket, tokens (decimal text), ts (microseconds, Redis TIME)
    KEYS[3] symbols   set of the symbols the account has placed orders in
    ARGV[1] key hash  sha256 hex of the presented key
    ARGV[2] rate      orders per second, '0' = no limit; the bucket holds twice that (burst)
    ARGV[3] cost      tokens this request takes: '1' for an order placement, '0' otherwise,
                      N for a batch of N orders
    ARGV[4] symbol    symbol to add to KEYS[3], or ''
    ARGV[5] partial   '1': take as many of the cost's tokens as the bucket holds, even none
                      (a batch: the orders past them are answered 429 one by one);
                      '' or absent: all or nothing (-103)
    ARGV[6..]         more symbols to add to KEYS[3] (a batch's other symbols)

  Output:
    {0, name, granted, wait_us, symbol...}   the account's name, the tokens taken (the cost
      unless partial), the microseconds until the next token when fewer were taken (else 0),
      and every symbol in KEYS[3]
    or {code} / {code, wait_us} with a negative code, see engine/codes.py:
      -101 unknown key, -102 revoked, -103 rate limited ({-103, microseconds until a token})
]]
local accountKey, rateKey, symbolsKey = KEYS[1], KEYS[2], KEYS[3]
local keyHash, rate, cost, symbol = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local partial = ARGV[5] == '1'

local account = redis.call('HMGET', accountKey, 'key_hash', 'revoked', 'name')
-- Both sides are sha256 digests: comparing them in variable time leaks nothing an attacker
-- could use to build a key (a digest prefix says nothing about the secret behind it).
if not account[1] or account[1] ~= keyHash then
  return {-101}
end
if account[2] == '1' then
  return {-102}
end

local granted, waitUs = cost, 0
if rate > 0 and cost > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])  -- ~1.8e15: exact in a double
  local burst = rate * 2
  local state = redis.call('HMGET', rateKey, 'tokens', 'ts')
  local tokens, ts = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or ts == nil then
    tokens, ts = burst, now
  end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end  -- a failover to a replica with a slower clock
  tokens = math.min(burst, tokens + elapsed * rate / 1000000)
  if tokens < cost then
    if not partial then
      return {-103, math.ceil((cost - tokens) * 1000000 / rate)}
    end
    granted = math.floor(tokens)
    waitUs = math.ceil((granted + 1 - tokens) * 1000000 / rate)
  end
  tokens = tokens - granted
  -- Lua would print these numbers with 14 significant digits: format them exactly.
  redis.call('HSET', rateKey, 'tokens', string.format('%.6f', tokens),
    'ts', string.format('%d', now))
  -- A bucket left alone refills completely in 2 s; after that it need not be kept.
  redis.call('PEXPIRE', rateKey, 3000)
end

if granted > 0 or cost == 0 then
  if symbol ~= '' then redis.call('SADD', symbolsKey, symbol) end
  if #ARGV > 5 then redis.call('SADD', symbolsKey, unpack(ARGV, 6)) end
end

local out = {0, account[3] or '', granted, waitUs}
for _, s in ipairs(redis.call('SMEMBERS', symbolsKey)) do
  out[#out + 1] = s
end
return out
