-- Move a message from one status to another, atomically, recording why.
-- The move happens only if the record is in ARGV[2] and, when ARGV[3] is not "", held by that
-- owner; releasing a claim and recording its outcome are this one step.
-- KEYS[1] record, KEYS[2] leases, KEYS[3] campaign counts (or KEYS[1]), KEYS[4] schedule,
-- KEYS[5] provider ref (or KEYS[1]), KEYS[6] the account's accepted-this-tenth-second counter,
-- KEYS[7] the account's stats, KEYS[8] pending, KEYS[9] the set of unknown messages,
-- KEYS[10] the message's idempotency key (or KEYS[1] when none): it lives `retention` after
-- its message ends, like the record
-- ARGV: id, from status, owner, to status, reason, provider id, retention (s, "" = keep),
--       count attempt (0/1), due (epoch s, "" = none), has_campaign, count accepted (0/1)
-- Returns 1 when moved, 0 when the record was not where the caller thought.
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[3] then return 0 end
local t = redis.call('TIME')
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'reason', ARGV[5], 'updated', stamp)
redis.call('HDEL', KEYS[1], 'owner', 'lease')
redis.call('ZREM', KEYS[2], ARGV[1])
local line = stamp .. ' ' .. ARGV[4]
if ARGV[5] ~= '' then line = line .. ' ' .. ARGV[5] end
local history = redis.call('HGET', KEYS[1], 'history') or ''
redis.call('HSET', KEYS[1], 'history', history .. line .. '\n')
if ARGV[8] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'provider_id', ARGV[6])
  redis.call('SET', KEYS[5], ARGV[1], 'EX', tonumber(ARGV[7]))
end
if ARGV[9] ~= '' then redis.call('ZADD', KEYS[4], tonumber(ARGV[9]), ARGV[1]) end
if ARGV[7] ~= '' then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
  if KEYS[10] ~= KEYS[1] then redis.call('EXPIRE', KEYS[10], tonumber(ARGV[7])) end
end
if ARGV[10] == '1' and ARGV[2] ~= ARGV[4] then
  redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
end
if ARGV[2] ~= ARGV[4] then redis.call('HINCRBY', KEYS[7], 'status:' .. ARGV[4], 1) end
-- Out of queued, or back into the schedule: no longer waiting on the broker.
if ARGV[2] == 'queued' then redis.call('ZREM', KEYS[8], ARGV[1]) end
if ARGV[4] == 'unknown' then redis.call('ZADD', KEYS[9], tonumber(t[1]), ARGV[1]) end
if ARGV[2] == 'unknown' and ARGV[4] ~= 'unknown' then redis.call('ZREM', KEYS[9], ARGV[1]) end
if ARGV[11] == '1' then
  redis.call('INCR', KEYS[6])
  redis.call('EXPIRE', KEYS[6], 10)
end
return 1
