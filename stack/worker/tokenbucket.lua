-- Token bucket per provider, shared by every worker through Redis [R-003].
-- KEYS[1] the bucket hash; ARGV: rate (tokens/s), burst (capacity), requested tokens.
-- Time comes from the Redis server itself so every worker agrees on the clock.
-- Returns {granted (1/0), wait_ms until enough tokens, tokens left (floored)}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = 0
local wait_ms = 0
if tokens >= want then
  tokens = tokens - want
  granted = 1
else
  wait_ms = math.ceil((want - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return {granted, wait_ms, math.floor(tokens)}
