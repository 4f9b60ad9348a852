-- Read what a worker needs of each record before it sends: status, campaign, account, data.
-- KEYS: the records. Returns a flat list, four items per record in order (all nil for a record
-- that is gone).
local out = {}
for _, key in ipairs(KEYS) do
  local f = redis.call('HMGET', key, 'status', 'campaign', 'account', 'data')
  for j = 1, 4 do out[#out + 1] = f[j] end
end
return out
