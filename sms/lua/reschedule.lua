-- Move a queued message's send_at or expires_at, atomically: its record's data JSON, its
-- `expires` field and its place in its ready queue change together, only while it is still
-- queued and waiting in that queue (once metered onto Celery's queue it is on its way).
-- KEYS[1] the record, KEYS[2] its account's ready queue of its lane, KEYS[3] the wake list.
-- ARGV[1] id, ARGV[2] the new data JSON, ARGV[3] due (epoch s), ARGV[4] expires (epoch s,
-- "" = never), ARGV[5] the reason recorded in its history.
-- Returns "moved", "missing", "metered" (queued but no longer in its ready queue), or the
-- status the record has instead of queued.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'queued' then return status end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'metered' end
local t = redis.call('TIME')
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local history = redis.call('HGET', KEYS[1], 'history') or ''
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'expires', ARGV[4], 'updated', stamp,
  'history', history .. stamp .. ' queued ' .. ARGV[5] .. '\n')
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, 0)
return 'moved'
