-- Pause an account for every worker: the cooldown key lives at least ARGV[2] ms from now.
-- A longer pause already set is kept, with its reason; a shorter one is replaced by this one.
-- (One step instead of SET NX and PEXPIRE GT, which needs Redis 7.)
-- KEYS[1] the account's cooldown key. ARGV[1] the reason, ARGV[2] milliseconds.
-- Returns the key's time to live afterwards, in ms.
local ms = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left >= ms then return left end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
return ms
