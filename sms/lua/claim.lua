-- Claim queued messages for sending and read them, in one step: compare-and-set queued ->
-- sending, with an owner and a lease, answering each claimed record's data.
-- KEYS[1] leases, KEYS[2] the account's `out` set (a claimed message has left Celery's hands),
-- KEYS[3] the callback events hash, KEYS[4] their due set (hooks.lua).
-- ARGV[1] owner, ARGV[2] lease seconds, ARGV[3] the prefix of campaign keys,
-- ARGV[4] a JSON list, one entry per message: [id, record key, the account's stats key]
-- Returns one reply per message, in order: {"claimed", attempts, created, data}; {"paused"} when
-- its campaign is paused (it is set aside, still queued, until the campaign resumes);
-- {"cancelled", campaign} or {"expired", campaign} when it must end unsent (still queued, and
-- in `out`: the caller ends it with move.lua);
-- {status} when it is not queued; {"missing"}. An owner that retries its own claim hears
-- "claimed" again (redis-py resends a command whose reply was lost).
local owner = ARGV[1]
local camp_prefix = ARGV[3]
local items = cjson.decode(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local lease = now + tonumber(ARGV[2])
local out, leases, left, counts, stats, states = {}, {}, {}, {}, {}, {}
for i, m in ipairs(items) do
  local id, record = m[1], m[2]
  local f = redis.call('HMGET', record, 'status', 'owner', 'attempts', 'created', 'history',
    'data', 'campaign', 'expires', 'callback')
  local campaign = f[7] or ''
  local state = 'running'
  if f[1] == 'queued' and campaign ~= '' then
    state = states[campaign]
    if not state then
      state = redis.call('HGET', camp_prefix .. campaign, 'state') or 'running'
      states[campaign] = state
    end
  end
  local expires = tonumber(f[8] or '')
  if not f[1] then
    out[i] = {'missing'}
  elseif f[1] == 'sending' and f[2] == owner then
    out[i] = {'claimed', f[3], f[4], f[6]}
  elseif f[1] ~= 'queued' then
    out[i] = {f[1]}
  elseif state == 'cancelled' then
    out[i] = {'cancelled', campaign}  -- stays in `out` until the caller's move ends it
  elseif expires and expires <= now then
    out[i] = {'expired', campaign}
  elseif state == 'paused' then
    redis.call('SADD', camp_prefix .. campaign .. ':paused', id)
    out[i] = {'paused'}
  else
    redis.call('HSET', record, 'status', 'sending', 'owner', owner, 'lease', lease,
      'updated', stamp, 'history', (f[5] or '') .. stamp .. ' sending\n')
    hook_message(KEYS[3], KEYS[4], record, id, f[9], 'queued', 'sending', '', stamp)
    leases[#leases + 1] = lease
    leases[#leases + 1] = id
    if campaign ~= '' then
      local key = camp_prefix .. campaign .. ':counts'
      counts[key] = (counts[key] or 0) + 1
    end
    stats[m[3]] = (stats[m[3]] or 0) + 1
    out[i] = {'claimed', f[3], f[4], f[6]}
  end
  if out[i][1] ~= 'cancelled' and out[i][1] ~= 'expired' then left[#left + 1] = id end
end
for i = 1, #leases, 1000 do
  redis.call('ZADD', KEYS[1], unpack(leases, i, math.min(i + 999, #leases)))
end
for i = 1, #left, 1000 do
  redis.call('ZREM', KEYS[2], unpack(left, i, math.min(i + 999, #left)))
end
for key, n in pairs(counts) do
  redis.call('HINCRBY', key, 'queued', -n)
  redis.call('HINCRBY', key, 'sending', n)
end
for key, n in pairs(stats) do redis.call('HINCRBY', key, 'status:sending', n) end
return out
