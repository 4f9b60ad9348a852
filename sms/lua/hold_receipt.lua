-- Hold a receipt that found no message: its provider id is not recorded yet, because the
-- receipt overtook the worker's record of the send. One step with a last look for the id, so a
-- record made since the receipt looked cannot miss it: move.lua answers 2 for a send whose
-- provider id has receipts held, and the worker applies them.
-- KEYS[1] the provider ref (provider id -> our id), KEYS[2] the receipts held for that id.
-- ARGV[1] the receipt (JSON), ARGV[2] seconds to hold it.
-- Returns our id when the ref exists now (apply the receipt as usual), else false (held).
local mid = redis.call('GET', KEYS[1])
if mid then return mid end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return false
