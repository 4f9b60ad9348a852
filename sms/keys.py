"""Every Redis key Salvo uses, and how long each lives: the whole schema on one screen.

Message and campaign records are hashes; waiting work sits in sorted sets scored by epoch
seconds. Records and idempotency keys live as long as their message and
`Settings.idempotency_retention` seconds (default 7 days) after it ends; keys of rate state
carry short TTLs set by their Lua scripts.
"""

from __future__ import annotations

PREFIX = "salvo"

#: Sorted set: message id -> epoch second its sending lease ends (a dead worker's messages).
LEASES = f"{PREFIX}:leases"
#: Sorted set: id of each message held as `unknown` -> epoch second it became unknown.
UNKNOWN = f"{PREFIX}:unknown"
#: Sorted set: each provider id with receipts held (`held_receipts`), as the JSON
#: `[account, provider id]` (`receipts.held_member`) -> epoch second its hold ends. The receipts
#: applied when their send is recorded leave it with them; the dispatcher takes, logs and counts
#: (stats field `receipts_dropped`) those whose hold ended with no send recorded.
HELD = f"{PREFIX}:held"
#: Sorted set: worker name -> epoch second of its last heartbeat.
WORKERS = f"{PREFIX}:workers"
#: List: a nudge for the meters (sms/lua/meter.lua); enqueue.lua pushes to it, a dispatcher
#: waiting for work (BLPOP) wakes at once instead of at its next poll. Trimmed to one entry.
WAKE = f"{PREFIX}:wake"
#: Set of every account name that has ever been sent through (for `salvo status`).
ACCOUNTS = f"{PREFIX}:accounts"


def message(message_id: str) -> str:
    """Hash: one message's record (status, data JSON, attempts, reason, history, lease)."""
    return f"{PREFIX}:msg:{message_id}"


def idempotency(key: str) -> str:
    """String: an idempotency key -> "<message id> <fingerprint>", the message that holds it
    and a digest of what it asked for (`Message.fingerprint`; a key written before
    fingerprints holds the id alone)."""
    return f"{PREFIX}:idem:{key}"


def campaign(campaign_id: str) -> str:
    """Hash: a campaign's metadata and its state (running, paused, cancelled)."""
    return f"{PREFIX}:camp:{campaign_id}"


def campaign_counts(campaign_id: str) -> str:
    """Hash: status -> number of the campaign's messages in it, kept by the transition scripts."""
    return f"{PREFIX}:camp:{campaign_id}:counts"


def campaign_rejects(campaign_id: str) -> str:
    """Sorted set: each rejected row of a campaign's blasts as the JSON `[line, reason, row]`
    -> its line (producer/rejects.py); the same row rejected again is the same member."""
    return f"{PREFIX}:camp:{campaign_id}:rejects"


def campaign_ingest_lease(campaign_id: str) -> str:
    """String: the lease of the process reading a campaign's uploaded file (a random token),
    renewed with each chunk; one process reads a file at a time (api/ingest.py)."""
    return f"{PREFIX}:camp:{campaign_id}:ingest-lease"


def campaign_paused(campaign_id: str) -> str:
    """Set: ids of a paused campaign's messages that a worker set aside until it resumes."""
    return f"{PREFIX}:camp:{campaign_id}:paused"


def provider_ref(account: str, provider_id: str) -> str:
    """String: a provider's message id -> our message id (receipts find messages by it)."""
    return f"{PREFIX}:pid:{account}:{provider_id}"


def held_receipts(account: str, provider_id: str) -> str:
    """List: receipts (JSON) that arrived before the send they report was recorded, kept for
    the worker that records its provider id, for `receipts.HOLD` seconds (indexed in `HELD`);
    then the dispatcher drops them, counted. Its TTL (`receipts.KEEP_HELD`) is a backstop."""
    return f"{PREFIX}:held:{account}:{provider_id}"


def bucket(account: str) -> str:
    """Hash: the account's token bucket (tokens, timestamp)."""
    return f"{PREFIX}:bucket:{account}"


def sender_bucket(account: str, sender: str) -> str:
    """Hash: the token bucket of one sender number of an account."""
    return f"{PREFIX}:bucket:{account}:{sender}"


def cooldown(account: str) -> str:
    """String with TTL: the account is paused until it expires; the value says why."""
    return f"{PREFIX}:cooldown:{account}"


def accepted_in(account: str, tenth: int) -> str:
    """Counter with a short TTL: messages the provider accepted in one tenth of a second
    (`tenth` = int(epoch seconds x 10))."""
    return f"{PREFIX}:accepted:{account}:{tenth}"


def learnt_rate(account: str) -> str:
    """Hash: the rate learnt for an account that has none configured."""
    return f"{PREFIX}:learnt:{account}"


def stats(account: str) -> str:
    """Hash: counters per account, field names in sms/metrics.py."""
    return f"{PREFIX}:stats:{account}"


# The audience (issue 16): opt-outs and inbound messages. Written by sms/optout.py (the CLI,
# the API's /v1/optouts and /v1/inbound, the producer's provider answers); none expires.

#: Hash: E.164 number -> JSON of its opt-out (at, source, note, account) for the whole
#: deployment, used when `optout_scope = "global"`. No TTL: an opt-out holds until removed.
OPTOUTS_GLOBAL = f"{PREFIX}:optout"
#: Stream: every inbound message (account, provider, from, to, text, at, keyword, action,
#: provider_id), oldest first. Written by the API's /v1/inbound; never trimmed.
INBOUND = f"{PREFIX}:inbound"


def optouts(account: str) -> str:
    """Hash: E.164 number -> JSON of its opt-out, for one account (`optout_scope = "account"`,
    the default). Written by sms/optout.py; no TTL: an opt-out holds until removed."""
    return f"{PREFIX}:optout:acct:{account}"


def inbound_seen(account: str, provider_id: str) -> str:
    """String with TTL (`idempotency_retention`): an inbound message the provider posted again
    (a retried webhook) is kept once. Written by sms/optout.py."""
    return f"{PREFIX}:inbound:seen:{account}:{provider_id}"


# The dashboard (issue 17).

#: Sorted set: campaign id -> epoch second it was created; the dashboard's list of campaigns.
#: Written by sms/campaigns.py when a campaign starts; no TTL (like the campaign's hash).
CAMPAIGNS = f"{PREFIX}:campaigns"


def dashboard_session(digest: str) -> str:
    """Hash: one signed-in dashboard session (`csrf` token, `key`: the SHA-256 of the API key it
    signed in with, `created`), under the SHA-256 of its cookie's value. Written by
    api/dashboard/session.py at sign-in, deleted at sign-out; TTL `session.LIFETIME` (12 h)."""
    return f"{PREFIX}:dashboard:session:{digest}"


# Receipts that cannot be replayed (issue 14).


def receipt_event(account: str, event_id: str) -> str:
    """String with TTL: a provider's notification id (JustCall's `request_id`, a TextingLine
    event id) already accepted for the account, so a replay of it changes nothing. Written
    with SET NX by api/receipts.py; lives `max(1 day, 2 x receipt_window)`, longer than a
    signed webhook's timestamp stays acceptable and than the provider's retries go on."""
    return f"{PREFIX}:event:{account}:{event_id}"


def ready(account: str, lane: str) -> str:
    """Sorted set: the account's waiting messages on one lane, id -> epoch second it is due (now,
    a `send_at`, a retry, a rate-limit or hold wait). Metering (sms/lua/meter.lua) moves what is
    due into `out` and onto Celery's queue, transactional first, at the account's rate."""
    return f"{PREFIX}:ready:{account}:{lane}"


def out(account: str) -> str:
    """Sorted set: the account's ids metered onto Celery's queues and not yet claimed, id ->
    epoch second they were metered. Its size is what metering counts as already on the way; an
    id older than `republish_after` whose record is still queued goes back to `ready`."""
    return f"{PREFIX}:out:{account}"


def sender_hold(account: str, sender: str) -> str:
    """String with TTL: the account's sender number is held (the provider refused it as a
    sender) until it expires; the value says why. Only that sender's messages wait."""
    return f"{PREFIX}:hold:{account}:{sender}"


def sender_holds(account: str) -> str:
    """The prefix of an account's sender holds: meter.lua appends a sender to it."""
    return sender_hold(account, "")


# Results (issue 15).


def campaign_rows(campaign_id: str) -> str:
    """Sorted set: each of a campaign's messages by id -> the line of its input row, so its
    messages list and export in row order without a scan. Written by sms/lua/enqueue.lua in the
    same step as the record; no TTL (like the campaign's hash)."""
    return f"{PREFIX}:camp:{campaign_id}:rows"


# Status callbacks (issue 15): events for the customers' URLs (sms/callbacks.py), written by
# the status-changing scripts (sms/lua/hooks.lua) in the same step as each change, posted and
# removed by the workers' callback sender (worker/callbacks.py).

#: Hash: event id -> the event as JSON (its URL, type, time and what it reports), from when a
#: script writes it until it is delivered, or dropped after `status_webhook_max_age`.
HOOKS = f"{PREFIX}:hooks"
#: Sorted set: event id -> epoch second it is next tried: now when written, a backoff after a
#: failure, the end of a sender's claim while a POST is in flight (so a sender that dies leaves
#: it due again, and another sends it: at least once).
HOOKS_DUE = f"{PREFIX}:hooks:due"
#: Hash: event id -> how many times a sender has taken it (its backoff grows with it).
HOOKS_TRIES = f"{PREFIX}:hooks:tries"
