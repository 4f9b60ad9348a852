-- Move messages from one status to another, atomically, recording why.
-- Each move happens only if its record is in the expected status and, when an owner is given,
-- held by that owner; releasing a claim and recording its outcome are this one step.
-- KEYS[1] leases, KEYS[2] the set of unknown messages, KEYS[3] the callback events hash,
-- KEYS[4] their due set (hooks.lua).
-- ARGV[1]: a JSON list, one entry per move (Python names every key, sms/keys.py):
--   [id, record key, from status, owner ("" = any), to status, reason, provider id ("" = none),
--    provider ref key, retention (s, "" = keep), count attempt ("1"/"0"), due (epoch s, "" = none),
--    campaign counts key ("" = none), the account's stats key,
--    accepted-this-tenth counter key ("" = not accepted), idempotency key ("" = none),
--    held-receipts key of the provider id ("" = none), the ready queue of its account and lane
--    ("" = none; needed with a due time), its account's `out` set ("" = none), and optionally
--    its campaign's key and id (a campaign whose last waiting message ends may finish)]
--   The record and the idempotency key (the entry's, else the one the record names) live
--   `retention` after the message ends.
-- ARGV[2] (optional): a JSON object of counters to add, {stats key: {field: amount}}, the
--   metrics (sms/metrics.py) that go with these outcomes.
-- Returns 1 per move that happened (2 when receipts that overtook it are held for its provider
-- id: the caller applies them, sms/receipts.py), 0 per move whose record was not where the
-- caller thought.
local items = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local stamp = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out, counts, stats, tallies, ended = {}, {}, {}, {}, {}
-- Sorted-set changes, applied at the end: per set, member -> score, or false to remove
-- (the last change of a member wins, as if each had been applied in turn).
local zsets = {}
local function zset(key)
  local z = zsets[key]
  if not z then z = {}; zsets[key] = z end
  return z
end

local function bump(tbl, key, field, n)
  local h = tbl[key]
  if not h then h = {}; tbl[key] = h end
  h[field] = (h[field] or 0) + n
end

for i, m in ipairs(items) do
  local id, record, from, owner, to, reason = m[1], m[2], m[3], m[4], m[5], m[6]
  local pid, keep = m[7], m[9]
  local f = redis.call('HMGET', record, 'status', 'owner', 'history', 'attempts', 'idem',
    'callback')
  if f[1] ~= from or (owner ~= '' and f[2] ~= owner) then
    out[i] = 0
  else
    local line = stamp .. ' ' .. to
    if reason ~= '' then line = line .. ' ' .. reason end
    -- The claim is released (no owner, no lease) in the same write as the outcome.
    local fields = {'status', to, 'reason', reason, 'updated', stamp, 'owner', '', 'lease', '',
      'history', (f[3] or '') .. line .. '\n'}
    if m[10] == '1' then
      fields[#fields + 1] = 'attempts'
      fields[#fields + 1] = (tonumber(f[4]) or 0) + 1
    end
    if pid ~= '' then
      fields[#fields + 1] = 'provider_id'
      fields[#fields + 1] = pid
      redis.call('SET', m[8], id, 'EX', tonumber(keep))
    end
    redis.call('HSET', record, unpack(fields))
    zset(KEYS[1])[id] = false
    -- Out of queued: no longer waiting in its ready queue, nor on Celery's.
    if from == 'queued' then
      if m[17] and m[17] ~= '' then zset(m[17])[id] = false end
      if m[18] and m[18] ~= '' then zset(m[18])[id] = false end
    end
    if m[11] ~= '' and m[17] and m[17] ~= '' then zset(m[17])[id] = tonumber(m[11]) end
    if keep ~= '' then
      redis.call('EXPIRE', record, tonumber(keep))
      local idem = m[15]
      if idem == '' then idem = f[5] or '' end
      if idem ~= '' then redis.call('EXPIRE', idem, tonumber(keep)) end
    end
    if from ~= to then
      if m[12] ~= '' then
        bump(counts, m[12], from, -1)
        bump(counts, m[12], to, 1)
      end
      bump(stats, m[13], 'status:' .. to, 1)
      hook_message(KEYS[3], KEYS[4], record, id, f[6], from, to, reason, stamp)
      if m[12] ~= '' and m[19] and m[19] ~= '' and hook_waits(from) and not hook_waits(to) then
        ended[m[12]] = {m[19], m[20]}
      end
    end
    if to == 'unknown' then
      zset(KEYS[2])[id] = tonumber(t[1])
    elseif from == 'unknown' then
      zset(KEYS[2])[id] = false
    end
    if m[14] ~= '' then tallies[m[14]] = (tallies[m[14]] or 0) + 1 end
    out[i] = 1
    if pid ~= '' and m[16] and m[16] ~= '' and redis.call('EXISTS', m[16]) == 1 then
      out[i] = 2
    end
  end
end

for _, tbl in ipairs({counts, stats}) do
  for key, fields in pairs(tbl) do
    for field, n in pairs(fields) do
      redis.call('HINCRBY', key, field, n)
    end
  end
end
for key, c in pairs(ended) do
  hook_campaign(KEYS[3], KEYS[4], c[1], key, c[2], stamp, false)
end
if ARGV[2] and ARGV[2] ~= '' then
  for key, fields in pairs(cjson.decode(ARGV[2])) do
    for field, n in pairs(fields) do
      if n == math.floor(n) then
        redis.call('HINCRBY', key, field, n)
      else
        redis.call('HINCRBYFLOAT', key, field, n)
      end
    end
  end
end
for key, n in pairs(tallies) do
  redis.call('INCRBY', key, n)
  redis.call('EXPIRE', key, 10)
end
for key, members in pairs(zsets) do
  local add, rem = {}, {}
  for member, score in pairs(members) do
    if score then
      add[#add + 1] = score
      add[#add + 1] = member
    else
      rem[#rem + 1] = member
    end
  end
  for i = 1, #add, 1000 do redis.call('ZADD', key, unpack(add, i, math.min(i + 999, #add))) end
  for i = 1, #rem, 1000 do redis.call('ZREM', key, unpack(rem, i, math.min(i + 999, #rem))) end
end
return out
