-- A blast has written all its rows (hooks.lua is prepended): the campaign may finish now.
-- KEYS[1] the campaign, KEYS[2] its counts, KEYS[3] the events hash, KEYS[4] the due set.
-- ARGV[1] the campaign id. Returns 1 when `campaign.finished` was written, else 0.
redis.call('HDEL', KEYS[1], 'ingesting')
local t = redis.call('TIME')
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
return hook_campaign(KEYS[3], KEYS[4], KEYS[1], KEYS[2], ARGV[1], stamp, true)
