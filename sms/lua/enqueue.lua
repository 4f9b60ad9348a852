-- Write message records, each unless its idempotency key already names another message, and
-- put each new one in its account's ready queue (sms/lua/meter.lua takes it from there).
-- KEYS[1] the wake list (a dispatcher waiting on it meters at once), KEYS[2] the callback
-- events hash, KEYS[3] their due set (hooks.lua).
-- ARGV[1]: a JSON list with one entry per message (Python names every key, sms/keys.py):
--   [id, record key, data, account, campaign, lane, idempotency key ("" = none),
--    campaign counts key ("" = none), the account's stats key, due (epoch s, "" = now),
--    fingerprint of the message (no spaces; "" = none), the ready queue key of its account and
--    lane, sender, expires (epoch s, "" = never), the campaign's rows index key ("" = none),
--    the message's input line and its input row as JSON ("" = none), and optionally its
--    callback URL ("" = none) and recipient]
-- An idempotency key holds "<id> <fingerprint>" (or "<id>" alone, as written before
-- fingerprints).
-- Returns a flat list, two items per message in order: the id that holds its key (its own when
-- written, the earlier message's otherwise) and 1 when written, 0 for a repeat (same
-- fingerprint, or either one unknown), -1 for a conflict (a different fingerprint).
local items = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out, counts, stats, ready, rows = {}, {}, {}, {}, {}

for _, m in ipairs(items) do
  local id, record, idem, print_ = m[1], m[2], m[7], m[11] or ''
  local holder, held_print = false, ''
  if idem ~= '' then
    local held = redis.call('GET', idem)
    if held then
      holder, held_print = string.match(held, '^(%S+) ?(%S*)$')
    else
      -- No TTL yet: the key lives as long as its message, and `retention` after it ends.
      redis.call('SET', idem, print_ == '' and id or (id .. ' ' .. print_))
    end
  end
  if holder then
    out[#out + 1] = holder
    if print_ ~= '' and held_print ~= '' and print_ ~= held_print then
      out[#out + 1] = -1
    else
      out[#out + 1] = 0
    end
  else
    redis.call('HSET', record, 'status', 'queued', 'data', m[3], 'account', m[4],
      'campaign', m[5], 'lane', m[6], 'sender', m[13], 'expires', m[14], 'idem', idem,
      'attempts', 0, 'created', now, 'updated', now, 'history', now .. ' queued\n')
    if m[17] and m[17] ~= '' then redis.call('HSET', record, 'row', m[17]) end
    if m[18] and m[18] ~= '' then
      redis.call('HSET', record, 'callback', m[18], 'to', m[19])
      hook_message(KEYS[2], KEYS[3], record, id, m[18], '', 'queued', '', now)
    end
    if m[8] ~= '' then counts[m[8]] = (counts[m[8]] or 0) + 1 end
    stats[m[9]] = (stats[m[9]] or 0) + 1
    local q = ready[m[12]]
    if not q then q = {}; ready[m[12]] = q end
    q[#q + 1] = (m[10] ~= '' and tonumber(m[10])) or tonumber(t[1])
    q[#q + 1] = id
    if m[15] and m[15] ~= '' then
      local r = rows[m[15]]
      if not r then r = {}; rows[m[15]] = r end
      r[#r + 1] = tonumber(m[16])
      r[#r + 1] = id
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end
for key, n in pairs(counts) do
  redis.call('HINCRBY', key, 'queued', n)
  redis.call('HINCRBY', key, 'total', n)
end
for key, n in pairs(stats) do redis.call('HINCRBY', key, 'status:queued', n) end
for key, r in pairs(rows) do
  for i = 1, #r, 1000 do redis.call('ZADD', key, unpack(r, i, math.min(i + 999, #r))) end
end
local woke = false
for key, q in pairs(ready) do
  for i = 1, #q, 1000 do redis.call('ZADD', key, unpack(q, i, math.min(i + 999, #q))) end
  woke = true
end
if woke then
  redis.call('LPUSH', KEYS[1], '1')
  redis.call('LTRIM', KEYS[1], 0, 0)
end
return out
