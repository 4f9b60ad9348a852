-- Take tokens from one or more token buckets at once: all are granted, or none is touched.
-- KEYS[1]: the account's cooldown key (a string with a TTL; while it exists nothing is granted).
-- KEYS[i+1]: a bucket hash {tokens, ts}; ARGV[3i-2], ARGV[3i-1], ARGV[3i]: its rate (tokens per
-- second), burst (capacity) and the tokens wanted from it.
-- One clock for every worker: Redis TIME. A refusal writes nothing. Every write sets a TTL
-- (the time to refill the bucket, plus a second), so idle buckets disappear.
-- Returns {wait, now}: wait is "0" when granted, else the seconds to wait before the same
-- request can be granted; now is the server time the decision was taken at.
local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then
  return {tostring(cooling / 1000), '0'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local tokens = {}
local wait = 0
for i = 1, #KEYS - 1 do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local want = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', KEYS[i + 1], 'tokens', 'ts')
  local have = tonumber(state[1])
  local ts = tonumber(state[2])
  if have == nil or ts == nil then
    have = burst
  else
    have = math.min(burst, have + math.max(0, now - ts) * rate)
  end
  tokens[i] = have
  if have < want then
    wait = math.max(wait, (want - have) / rate)
  end
end
if wait > 0 then
  return {tostring(wait), stamp}
end
for i = 1, #KEYS - 1 do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local left = tokens[i] - tonumber(ARGV[3 * i])
  redis.call('HSET', KEYS[i + 1], 'tokens', tostring(left), 'ts', stamp)
  redis.call('PEXPIRE', KEYS[i + 1], math.ceil((burst / rate + 1) * 1000))
end
return {'0', stamp}
