-- Set a paused campaign's messages aside, but only while it is still paused: the check and the
-- set-aside are one step, so a resume or cancel that lands after a worker read "paused" can
-- never miss these ids (it sweeps the set after changing the state).
-- KEYS[1] the campaign's hash, KEYS[2] its set-aside set, KEYS[3] pending.
-- ARGV: the message ids (at most a batch).
-- Returns "paused" when they were set aside, else the campaign's state now, and changes nothing.
local state = redis.call('HGET', KEYS[1], 'state') or 'running'
if state ~= 'paused' then return state end
redis.call('SADD', KEYS[2], unpack(ARGV))
redis.call('ZREM', KEYS[3], unpack(ARGV))  -- out of the broker's hands until it resumes
return 'paused'
