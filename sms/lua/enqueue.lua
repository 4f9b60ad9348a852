-- Write message records, each unless its idempotency key already names another message, and
-- put each new one in its account's ready queue (sms/lua/meter.lua takes it from there).
-- KEYS[1] the wake list (a dispatcher waiting on it meters at once), KEYS[2] the callback
-- events hash, KEYS[3] their due set (hooks.lua).
-- ARGV[1] the record keys' prefix, then groups of messages alike but for their own fields
-- (Python names every key, sms/keys.py; sms/store.py makes the groups). Each group is
--   n, account, campaign, lane, campaign counts key ("" = none), the account's stats key, the
--   ready queue key of its account and lane, sender, expires (epoch s, "" = never), the
--   campaign's rows index key ("" = none), callback URL ("" = none), the hash of opt-outs that
--   holds its messages back ("" = none: the caller checked, or they do not apply),
-- then its n messages, one argument each: their own fields joined by "\31" (a character none
-- of the first seven can hold; the id, last, is the rest):
--   idempotency key ("" = none), fingerprint (no spaces; "" = none), due (epoch s, "" = now),
--   input line ("" = none), recipient (with a callback URL or an opt-out hash; else ""), the
--   input row as JSON, data (the Message as JSON), id.
-- Few arguments, most of them alike, because each argument costs the server an allocation to
-- read, another to hand to Lua and a free after: per message, that was most of its work.
-- An idempotency key holds "<id> <fingerprint>" (or "<id>" alone, as written before
-- fingerprints).
-- Returns a flat list, two items per message in order: the id that holds its key (its own when
-- written, the earlier message's otherwise) and 1 when written, 0 for a repeat (same
-- fingerprint, or either one unknown), -1 for a conflict (a different fingerprint); or its own
-- id and 2 when it is new and its recipient is on the group's opt-out hash (nothing written, no
-- key taken).
local find, sub = string.find, string.sub
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out, counts, stats, ready, rows = {}, {}, {}, {}, {}
local history, due_now = now .. ' queued\n', tonumber(t[1])
local a = ARGV
local prefix = a[1]
local i = 1
while i < #a do
  local n, account, campaign, lane, count_key, stats_key, ready_key, sender, expires, rows_key,
    url, optouts = tonumber(a[i + 1]), a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6],
    a[i + 7], a[i + 8], a[i + 9], a[i + 10], a[i + 11], a[i + 12]
  i = i + 12
  local q = ready[ready_key]
  if not q then q = {}; ready[ready_key] = q end
  local r = false
  if rows_key ~= '' then
    r = rows[rows_key]
    if not r then r = {}; rows[rows_key] = r end
  end
  -- The record, one HSET (each call is also one more command in the AOF): the slots that
  -- change from one message to the next are 1 (key), 5 (data), 17 (idem) and, when kept,
  -- the row and the recipient.
  local fields = {'', 'status', 'queued', 'data', '', 'account', account, 'campaign', campaign,
    'lane', lane, 'sender', sender, 'idem', '', 'attempts', 0, 'created', now, 'updated', now,
    'history', history}
  if expires ~= '' then
    fields[#fields + 1] = 'expires'
    fields[#fields + 1] = expires
  end
  local row_at, to_at = 0, 0
  if r then
    fields[#fields + 1] = 'row'
    row_at = #fields + 1
    fields[row_at] = ''
  end
  if url ~= '' then
    fields[#fields + 1] = 'callback'
    fields[#fields + 1] = url
    fields[#fields + 1] = 'to'
    to_at = #fields + 1
    fields[to_at] = ''
  end
  local written = 0
  for j = i + 1, i + n do
    local s = a[j]
    local p1 = find(s, '\31', 1, true)
    local p2 = find(s, '\31', p1 + 1, true)
    local p3 = find(s, '\31', p2 + 1, true)
    local p4 = find(s, '\31', p3 + 1, true)
    local p5 = find(s, '\31', p4 + 1, true)
    local p6 = find(s, '\31', p5 + 1, true)
    local p7 = find(s, '\31', p6 + 1, true)
    local idem, print_, id = sub(s, 1, p1 - 1), sub(s, p1 + 1, p2 - 1), sub(s, p7 + 1)
    local holder, held_print = false, ''
    -- The key first: a message already enqueued under it is a repeat (or a conflict), opted
    -- out since or not (the worker checks the list again before sending it). No TTL yet: the
    -- key lives as long as its message, and `retention` after it ends.
    if idem ~= ''
        and not redis.call('SET', idem, print_ == '' and id or (id .. ' ' .. print_), 'NX') then
      holder, held_print = string.match(redis.call('GET', idem), '^(%S+) ?(%S*)$')
    end
    local suppressed = not holder and optouts ~= ''
      and redis.call('HEXISTS', optouts, sub(s, p4 + 1, p5 - 1)) == 1
    if suppressed then
      if idem ~= '' then redis.call('DEL', idem) end  -- taken just now: nothing is written
      out[#out + 1] = id
      out[#out + 1] = 2
    elseif holder then
      out[#out + 1] = holder
      if print_ ~= '' and held_print ~= '' and print_ ~= held_print then
        out[#out + 1] = -1
      else
        out[#out + 1] = 0
      end
    else
      local record = prefix .. id
      fields[1] = record
      fields[5] = sub(s, p6 + 1, p7 - 1)
      fields[15] = idem
      if r then fields[row_at] = sub(s, p5 + 1, p6 - 1) end
      if url ~= '' then fields[to_at] = sub(s, p4 + 1, p5 - 1) end
      redis.call('HSET', unpack(fields))
      if url ~= '' then
        hook_message(KEYS[2], KEYS[3], record, id, url, '', 'queued', '', now)
      end
      written = written + 1
      q[#q + 1] = tonumber(sub(s, p2 + 1, p3 - 1)) or due_now
      q[#q + 1] = id
      if r then
        r[#r + 1] = tonumber(sub(s, p3 + 1, p4 - 1))
        r[#r + 1] = id
      end
      out[#out + 1] = id
      out[#out + 1] = 1
    end
  end
  i = i + n
  if written > 0 then
    if count_key ~= '' then counts[count_key] = (counts[count_key] or 0) + written end
    stats[stats_key] = (stats[stats_key] or 0) + written
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
  if #q > 0 then woke = true end
end
if woke then
  redis.call('LPUSH', KEYS[1], '1')
  redis.call('LTRIM', KEYS[1], 0, 0)
end
return out
