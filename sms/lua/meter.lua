-- Meter one account: move from its ready queues what it can send over the next `horizon`
-- seconds into `out` (the caller publishes those ids to Celery), transactional first, and sort
-- out on the way what must not be sent. Safe to run from every dispatcher at once: each id is
-- taken by one call only.
-- KEYS[1] ready (transactional), KEYS[2] ready (bulk), KEYS[3] out, KEYS[4] the account's
--   cooldown, KEYS[5] the account's token bucket.
-- ARGV[1] rate (tokens/s), ARGV[2] burst, ARGV[3] horizon (s), ARGV[4] the share of the rate
--   only transactional messages may use (0-1), ARGV[5] the most ids `out` may hold,
--   ARGV[6] the most ids one call takes, ARGV[7] the prefix of the account's sender holds,
--   ARGV[8] the prefix of record keys, ARGV[9] the prefix of campaign keys, ARGV[10] the
--   fewest bulk ids worth a round while more than half of `max_out` is still out (so that,
--   when the workers are the limit, each task carries a batch, not a handful).
-- What is due is read from the ready queue in order and, per id:
--   gone or no longer queued           -> dropped from the ready queue;
--   its campaign paused                -> set aside in the campaign's paused set until resume;
--   its campaign cancelled, or expired -> answered apart, for the caller to end (move.lua);
--   its sender held                    -> due again when the hold ends;
--   else, while the budget lasts       -> into `out`, answered for publishing.
-- The budget: the bucket's tokens now plus `horizon` seconds of rate, less what `out` holds
-- (metered, not yet claimed). The precise limit is still the bucket the worker takes from just
-- before each call; metering keeps Celery's queues shallow and every account's work apart.
-- Returns {cooldown ms (0 = none), transactional ids, bulk ids, cancelled, expired}, the last
-- two flat lists of id, campaign ("" = none).
local cooling = redis.call('PTTL', KEYS[4])
if cooling > 0 then return {cooling, {}, {}, {}, {}} end

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local horizon, share = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_out, max_take = tonumber(ARGV[5]), tonumber(ARGV[6])
local hold_prefix, msg_prefix, camp_prefix = ARGV[7], ARGV[8], ARGV[9]

local b = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
local have = tonumber(b[1])
if have == nil or tonumber(b[2]) == nil then
  have = burst
else
  have = math.min(burst, have + math.max(0, now - tonumber(b[2])) * rate)
end
local capacity = have + rate * horizon
local waiting = redis.call('ZCARD', KEYS[3])
local budget = math.min(math.floor(capacity) - waiting, max_out - waiting, max_take)
local bulk_budget = math.min(budget, math.floor((1 - share) * capacity) - waiting)

local states, holds = {}, {}
local function state_of(campaign)
  if campaign == '' then return 'running' end
  local s = states[campaign]
  if not s then
    s = redis.call('HGET', camp_prefix .. campaign, 'state') or 'running'
    states[campaign] = s
  end
  return s
end
local function hold_of(sender)
  if sender == '' then return 0 end
  local h = holds[sender]
  if not h then
    h = redis.call('PTTL', hold_prefix .. sender)
    holds[sender] = h
  end
  return h
end

local taken, cancelled, expired = {{}, {}}, {}, {}
local released = 0
for lane = 1, 2 do
  local allowed = (lane == 1) and budget or math.min(bulk_budget, budget - released)
  if lane == 2 and allowed < tonumber(ARGV[10] or '1') and waiting > max_out / 2 then
    allowed = 0  -- the workers have plenty in hand: wait until a batch's worth is free
  end
  local n = 0
  local ready = KEYS[lane]
  local scanned = 0
  while n < allowed and scanned < 2 * max_take do
    local limit = math.min(allowed - n + 50, max_take)
    local batch = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, limit)
    if #batch == 0 then break end
    scanned = scanned + #batch
    local drop, reschedule, publish = {}, {}, {}
    for _, id in ipairs(batch) do
      if n >= allowed then break end
      local f = redis.call('HMGET', msg_prefix .. id, 'status', 'campaign', 'sender', 'expires')
      if f[1] ~= 'queued' then
        drop[#drop + 1] = id
      else
        local campaign = f[2] or ''
        local state = state_of(campaign)
        local expires = tonumber(f[4] or '')
        if state == 'cancelled' then
          drop[#drop + 1] = id
          cancelled[#cancelled + 1] = id
          cancelled[#cancelled + 1] = campaign
        elseif expires and expires <= now then
          drop[#drop + 1] = id
          expired[#expired + 1] = id
          expired[#expired + 1] = campaign
        elseif state == 'paused' then
          drop[#drop + 1] = id
          redis.call('SADD', camp_prefix .. campaign .. ':paused', id)
        else
          local held = hold_of(f[3] or '')
          if held > 0 then
            reschedule[#reschedule + 1] = now + held / 1000
            reschedule[#reschedule + 1] = id
          else
            drop[#drop + 1] = id
            publish[#publish + 1] = now
            publish[#publish + 1] = id
            taken[lane][#taken[lane] + 1] = id
            n = n + 1
          end
        end
      end
    end
    for i = 1, #drop, 1000 do
      redis.call('ZREM', ready, unpack(drop, i, math.min(i + 999, #drop)))
    end
    for i = 1, #reschedule, 1000 do
      redis.call('ZADD', ready, 'XX', unpack(reschedule, i, math.min(i + 999, #reschedule)))
    end
    for i = 1, #publish, 1000 do
      redis.call('ZADD', KEYS[3], unpack(publish, i, math.min(i + 999, #publish)))
    end
    if #batch < limit then break end  -- nothing more is due on this lane
  end
  released = released + n
end
return {0, taken[1], taken[2], cancelled, expired}
