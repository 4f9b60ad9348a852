-- Give metered ids back to their ready queue, unclaimed: a worker that holds more of an
-- account's metered work than its share hands the rest back, to be metered again for a worker
-- with room (worker/batch.py).
-- KEYS[1] the account's `out` set, KEYS[2] the ready queue of their lane.
-- ARGV: the ids. Each id still in `out` (no worker claimed it meanwhile) leaves it and is due
-- again at the time it was metered, so it keeps its place ahead of what was due later; its
-- record, still queued, is not touched. Returns how many went back.
local back = 0
for _, id in ipairs(ARGV) do
  local metered = redis.call('ZSCORE', KEYS[1], id)
  if metered then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], 'NX', metered, id)
    back = back + 1
  end
end
return back
