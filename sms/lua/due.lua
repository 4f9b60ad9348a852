-- Take up to ARGV[1] ids whose due time has come out of the schedule, atomically, so two
-- dispatchers never move one id twice; they become pending (about to be published).
-- KEYS[1] schedule, KEYS[2] pending.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], tonumber(t[1]), id)
end
return ids
