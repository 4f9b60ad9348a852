-- Claim queued messages for sending: compare-and-set queued -> sending, with an owner and a lease.
-- KEYS[1] leases, KEYS[2] pending (a claimed message has left the broker's hands).
-- ARGV[1] owner, ARGV[2] lease seconds, ARGV[3] a JSON list, one entry per message:
--   [id, record key, campaign counts key ("" = none), the account's stats key]
-- Returns one reply per message, in order: {"claimed", attempts, created}, or {status} when it
-- is not queued, or {"missing"}. An owner that retries its own claim hears "claimed" again
-- (redis-py resends a command whose reply was lost).
local owner = ARGV[1]
local items = cjson.decode(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local lease = now + tonumber(ARGV[2])
local out, leases, claimed, counts, stats = {}, {}, {}, {}, {}
for i, m in ipairs(items) do
  local id, record = m[1], m[2]
  local f = redis.call('HMGET', record, 'status', 'owner', 'attempts', 'created', 'history')
  if not f[1] then
    out[i] = {'missing'}
  elseif f[1] == 'sending' and f[2] == owner then
    out[i] = {'claimed', f[3], f[4]}
  elseif f[1] ~= 'queued' then
    out[i] = {f[1]}
  else
    redis.call('HSET', record, 'status', 'sending', 'owner', owner, 'lease', lease,
      'updated', stamp, 'history', (f[5] or '') .. stamp .. ' sending\n')
    leases[#leases + 1] = lease
    leases[#leases + 1] = id
    claimed[#claimed + 1] = id
    if m[3] ~= '' then counts[m[3]] = (counts[m[3]] or 0) + 1 end
    stats[m[4]] = (stats[m[4]] or 0) + 1
    out[i] = {'claimed', f[3], f[4]}
  end
end
for i = 1, #leases, 1000 do
  redis.call('ZADD', KEYS[1], unpack(leases, i, math.min(i + 999, #leases)))
end
for i = 1, #claimed, 1000 do
  redis.call('ZREM', KEYS[2], unpack(claimed, i, math.min(i + 999, #claimed)))
end
for key, n in pairs(counts) do
  redis.call('HINCRBY', key, 'queued', -n)
  redis.call('HINCRBY', key, 'sending', n)
end
for key, n in pairs(stats) do redis.call('HINCRBY', key, 'status:sending', n) end
return out
