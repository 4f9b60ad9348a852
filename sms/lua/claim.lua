-- Claim a queued message for sending: compare-and-set queued -> sending with an owner and lease.
-- KEYS[1] record, KEYS[2] leases, KEYS[3] campaign counts (or KEYS[1] when none),
-- KEYS[4] the account's stats, KEYS[5] pending (a claimed message has left the broker's hands)
-- ARGV: id, owner, lease seconds, has_campaign
-- Returns {"claimed", data, attempts, created} or {status} (a reply to an owner retrying its own claim
-- is "claimed" again: redis-py resends a command whose reply was lost).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'sending' and redis.call('HGET', KEYS[1], 'owner') == ARGV[2] then
  return {'claimed', unpack(redis.call('HMGET', KEYS[1], 'data', 'attempts', 'created'))}
end
if status ~= 'queued' then return {status} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local lease = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'sending', 'owner', ARGV[2], 'lease', lease, 'updated', stamp)
local history = redis.call('HGET', KEYS[1], 'history') or ''
redis.call('HSET', KEYS[1], 'history', history .. stamp .. ' sending\n')
redis.call('ZADD', KEYS[2], lease, ARGV[1])
if ARGV[4] == '1' then
  redis.call('HINCRBY', KEYS[3], 'queued', -1)
  redis.call('HINCRBY', KEYS[3], 'sending', 1)
end
redis.call('HINCRBY', KEYS[4], 'status:sending', 1)
redis.call('ZREM', KEYS[5], ARGV[1])
return {'claimed', unpack(redis.call('HMGET', KEYS[1], 'data', 'attempts', 'created'))}
