-- Apply a delivery receipt: move a message's status forward only, recording why.
-- A status of lower or equal rank than the current one (a duplicate, a late "sent" after
-- "delivered", anything after a terminal status) changes nothing.
-- KEYS[1] record, KEYS[2] leases, KEYS[3] campaign counts (or KEYS[1] when none),
-- KEYS[4] provider ref to write (or KEYS[1] when none), KEYS[5] the account's stats,
-- KEYS[6] the set of unknown messages (a receipt resolves one), KEYS[7] the callback events
-- hash, KEYS[8] their due set (hooks.lua), KEYS[9] the campaign (or KEYS[1] when none)
-- ARGV: id, account, new status, reason, provider id ("" = none), retention (s),
--       has_campaign (0/1), ranks (JSON object status -> rank), provider time ("" = none),
--       campaign id ("" = none)
-- Returns {"moved", old status}, {"stale", current status}, {"missing", ""} or
-- {"foreign", ""} when the record belongs to another account.
local f = redis.call('HMGET', KEYS[1], 'status', 'account', 'callback')
local status = f[1]
if not status then return {'missing', ''} end
if f[2] ~= ARGV[2] then return {'foreign', ''} end
local ranks = cjson.decode(ARGV[8])
local old, new = ranks[status], ranks[ARGV[3]]
if old == nil or new == nil or new <= old then return {'stale', status} end
local t = redis.call('TIME')
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'reason', ARGV[4], 'updated', stamp)
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'receipt_at', ARGV[9]) end
-- A receipt can overtake the worker's own record of the send: the claim ends here.
redis.call('HDEL', KEYS[1], 'owner', 'lease')
redis.call('ZREM', KEYS[2], ARGV[1])
local line = stamp .. ' ' .. ARGV[3]
if ARGV[4] ~= '' then line = line .. ' ' .. ARGV[4] end
local history = redis.call('HGET', KEYS[1], 'history') or ''
redis.call('HSET', KEYS[1], 'history', history .. line .. '\n')
if ARGV[5] ~= '' and (redis.call('HGET', KEYS[1], 'provider_id') or '') == '' then
  redis.call('HSET', KEYS[1], 'provider_id', ARGV[5])
  redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[6]))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
if ARGV[7] == '1' then
  redis.call('HINCRBY', KEYS[3], status, -1)
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
end
redis.call('HINCRBY', KEYS[5], 'status:' .. ARGV[3], 1)
if status == 'unknown' then redis.call('ZREM', KEYS[6], ARGV[1]) end
hook_message(KEYS[7], KEYS[8], KEYS[1], ARGV[1], f[3], status, ARGV[3], ARGV[4], stamp)
if ARGV[7] == '1' and hook_waits(status) then
  hook_campaign(KEYS[7], KEYS[8], KEYS[9], KEYS[3], ARGV[10], stamp, false)
end
return {'moved', status}
