-- Take the status-callback events that are due, for one sender (worker/callbacks.py): each
-- one's next try becomes the end of this claim, so an event whose sender dies mid-POST is due
-- again then, and another sender posts it (at least once).
-- KEYS[1] the due set, KEYS[2] the events hash, KEYS[3] the tries hash.
-- ARGV[1] how many at most, ARGV[2] seconds the claim lasts.
-- Returns {now, id, event JSON, tries (this one counted), id, ...}; an id whose event is gone
-- is dropped from the due set.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {tostring(now)}
for _, id in ipairs(ids) do
  local event = redis.call('HGET', KEYS[2], id)
  if event then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = event
    out[#out + 1] = redis.call('HINCRBY', KEYS[3], id, 1)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
