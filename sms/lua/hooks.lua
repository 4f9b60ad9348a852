-- Status callbacks (sms/callbacks.py): prepended to each script that changes a message's
-- status (enqueue, claim, move, receipt) and to ingested.lua, so that the event for the
-- customer's URL is written in the same atomic step as the change it reports: no change
-- without its event, no event without its change. Only a record (or campaign) with a
-- `callback` URL costs anything. An event is JSON in the events hash under its id, and its id
-- in the due set at now; worker/callbacks.py posts it. Ids are stable: `{message id}-{n}` for
-- a message's n-th event, `{campaign}-finished-{n}`.

-- Whether a message in `status` is still to be sent (a campaign with none has finished).
local function hook_waits(status)
  return status == 'queued' or status == 'sending'
end

-- A message's change of status, for its URL (`url`, the record's `callback`; "" = none).
local function hook_message(hooks, due, record, id, url, from, to, reason, stamp)
  if not url or url == '' then return end
  local n = redis.call('HINCRBY', record, 'hooks', 1)
  local f = redis.call('HMGET', record, 'account', 'campaign', 'to', 'provider_id', 'attempts')
  local eid = id .. '-' .. n
  redis.call('HSET', hooks, eid, cjson.encode({
    type = 'message.status', url = url, at = tonumber(stamp), message = id, seq = n,
    account = f[1] or '', campaign = f[2] or '', to = f[3] or '', status = to,
    previous = from, reason = reason or '', provider_id = f[4] or '',
    attempts = tonumber(f[5]) or 0,
  }))
  redis.call('ZADD', due, tonumber(stamp), eid)
end

-- A campaign whose messages may have just stopped waiting: `campaign.finished` if it has a
-- URL, its rows are all written (no `ingesting`) and none is queued or sending. With `once`
-- (the end of an ingest), not again if it already finished with as many messages.
local function hook_campaign(hooks, due, camp, counts, campaign, stamp, once)
  local c = redis.call('HMGET', camp, 'callback', 'ingesting', 'account', 'finished_total')
  if not c[1] or c[1] == '' or c[2] then return 0 end
  local raw = redis.call('HGETALL', counts)
  local n = {}
  for i = 1, #raw, 2 do n[raw[i]] = tonumber(raw[i + 1]) end
  if (n['queued'] or 0) + (n['sending'] or 0) > 0 then return 0 end
  if once and tonumber(c[4] or '') == (n['total'] or 0) then return 0 end
  local k = redis.call('HINCRBY', camp, 'hooks', 1)
  redis.call('HSET', camp, 'finished_total', n['total'] or 0)
  local eid = campaign .. '-finished-' .. k
  redis.call('HSET', hooks, eid, cjson.encode({
    type = 'campaign.finished', url = c[1], at = tonumber(stamp), campaign = campaign,
    account = c[3] or '', counts = n,
  }))
  redis.call('ZADD', due, tonumber(stamp), eid)
  return 1
end

