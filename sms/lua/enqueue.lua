-- Write one message record, unless its idempotency key already names another message.
-- KEYS[1] record, KEYS[2] idempotency key (or KEYS[1] when none), KEYS[3] campaign counts
-- (or KEYS[1] when none), KEYS[4] schedule, KEYS[5] the account's stats, KEYS[6] pending.
-- ARGV: id, data, account, campaign, lane, (unused), has_key, due (epoch s, "" = now)
-- Returns the id that holds the key: ARGV[1] when written, the earlier one when a duplicate.
if ARGV[7] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {existing, 0} end
  -- No TTL yet: the key lives as long as its message, and `retention` after it ends.
  redis.call('SET', KEYS[2], ARGV[1])
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[1], 'status', 'queued', 'data', ARGV[2], 'account', ARGV[3],
  'campaign', ARGV[4], 'lane', ARGV[5], 'attempts', 0, 'created', now, 'updated', now,
  'history', now .. ' queued\n')
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'queued', 1)
  redis.call('HINCRBY', KEYS[3], 'total', 1)
end
if ARGV[8] ~= '' then
  redis.call('ZADD', KEYS[4], tonumber(ARGV[8]), ARGV[1])
else
  redis.call('ZADD', KEYS[6], tonumber(t[1]), ARGV[1])
end
redis.call('HINCRBY', KEYS[5], 'status:queued', 1)
return {ARGV[1], 1}
