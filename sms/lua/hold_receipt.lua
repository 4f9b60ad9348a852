-- Hold a receipt that found no message: its provider id is not recorded yet, because the
-- receipt overtook the worker's record of the send. One step with a last look for the id, so a
-- record made since the receipt looked cannot miss it: move.lua answers 2 for a send whose
-- provider id has receipts held, and the worker applies them. In the same step the provider id
-- goes into the index of held receipts, scored by when its hold ends (Redis clock); the
-- dispatcher drops, logs and counts what is still held then.
-- KEYS[1] the provider ref (provider id -> our id), KEYS[2] the receipts held for that id,
-- KEYS[3] the index of held receipts.
-- ARGV[1] the receipt (JSON), ARGV[2] seconds to hold it, ARGV[3] its member in the index,
-- ARGV[4] the list's TTL (a backstop, longer than the hold).
-- Returns our id when the ref exists now (apply the receipt as usual), else false (held).
local mid = redis.call('GET', KEYS[1])
if mid then return mid end
local t = redis.call('TIME')
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('ZADD', KEYS[3], tonumber(t[1]) + tonumber(ARGV[2]), ARGV[3])
return false
