-- Write message records, each unless its idempotency key already names another message, and
-- put each new one in its account's ready queue (sms/lua/meter.lua takes it from there).
-- KEYS[1] the wake list (a dispatcher waiting on it meters at once), KEYS[2] the callback
-- events hash, KEYS[3] their due set (hooks.lua).
-- ARGV: 19 arguments per message, one message after another (Python names every key,
-- sms/keys.py; passed as plain arguments, nothing to decode):
--   id, record key, data, account, campaign, lane, idempotency key ("" = none),
--   campaign counts key ("" = none), the account's stats key, due (epoch s, "" = now),
--   fingerprint of the message (no spaces; "" = none), the ready queue key of its account and
--   lane, sender, expires (epoch s, "" = never), the campaign's rows index key ("" = none),
--   the message's input line and its input row as JSON ("" = none), its callback URL
--   ("" = none) and recipient
-- An idempotency key holds "<id> <fingerprint>" (or "<id>" alone, as written before
-- fingerprints).
-- Returns a flat list, two items per message in order: the id that holds its key (its own when
-- written, the earlier message's otherwise) and 1 when written, 0 for a repeat (same
-- fingerprint, or either one unknown), -1 for a conflict (a different fingerprint).
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out, counts, stats, ready, rows = {}, {}, {}, {}, {}
local history, due_now = now .. ' queued\n', tonumber(t[1])
local a = ARGV

for i = 0, #a - 1, 19 do
  local id, idem, print_ = a[i + 1], a[i + 7], a[i + 11]
  local holder, held_print = false, ''
  -- No TTL yet: the key lives as long as its message, and `retention` after it ends.
  if idem ~= '' and not redis.call('SET', idem, print_ == '' and id or (id .. ' ' .. print_), 'NX') then
    holder, held_print = string.match(redis.call('GET', idem), '^(%S+) ?(%S*)$')
  end
  if holder then
    out[#out + 1] = holder
    if print_ ~= '' and held_print ~= '' and print_ ~= held_print then
      out[#out + 1] = -1
    else
      out[#out + 1] = 0
    end
  else
    local record = a[i + 2]
    -- One HSET for the whole record: each call is also one more command in the AOF.
    local fields = {record, 'status', 'queued', 'data', a[i + 3], 'account', a[i + 4],
      'campaign', a[i + 5], 'lane', a[i + 6], 'sender', a[i + 13], 'expires', a[i + 14],
      'idem', idem, 'attempts', 0, 'created', now, 'updated', now, 'history', history}
    if a[i + 17] ~= '' then
      fields[#fields + 1] = 'row'
      fields[#fields + 1] = a[i + 17]
    end
    if a[i + 18] ~= '' then
      fields[#fields + 1] = 'callback'
      fields[#fields + 1] = a[i + 18]
      fields[#fields + 1] = 'to'
      fields[#fields + 1] = a[i + 19]
    end
    redis.call('HSET', unpack(fields))
    if a[i + 18] ~= '' then
      hook_message(KEYS[2], KEYS[3], record, id, a[i + 18], '', 'queued', '', now)
    end
    local key = a[i + 8]
    if key ~= '' then counts[key] = (counts[key] or 0) + 1 end
    key = a[i + 9]
    stats[key] = (stats[key] or 0) + 1
    key = a[i + 12]
    local q = ready[key]
    if not q then q = {}; ready[key] = q end
    q[#q + 1] = (a[i + 10] ~= '' and tonumber(a[i + 10])) or due_now
    q[#q + 1] = id
    key = a[i + 15]
    if key ~= '' then
      local r = rows[key]
      if not r then r = {}; rows[key] = r end
      r[#r + 1] = tonumber(a[i + 16])
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
