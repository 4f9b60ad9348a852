"""Campaigns: the one home of their ids, their states and their records in Redis.

A campaign id is 1 to 100 of `A-Z a-z 0-9 _ . -` (no `:`, which separates the parts of Redis
keys: a campaign `x:counts` would share the counts of campaign `x`). Every door checks it with
`check_id`. Without an id, `default_id` derives one from what defines the blast (account,
sender, template, key column and the file's content), so the same file sent the same way is
the same campaign through the CLI, the HTTP API and the Python API alike, and each row's
idempotency key makes a replay send nothing twice.

A campaign's record is a hash (`keys.campaign`): created, state, account, template, source
(the first run's: a replay keeps them), starts (when its first message is due), rejected,
suppressed, its ingest (`record_ingest`), and `<state>_at` for each change of state; its counts
by status are kept beside it (`keys.campaign_counts`) by the transition scripts;
`keys.CAMPAIGNS` lists every campaign.

The state shown is the stored one, except that a running campaign whose first message is not
due yet shows `scheduled` (computed when read, never stored: nothing has to change it when the
time comes).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated, Any, cast

import redis
import redis.asyncio as aredis
from pydantic import AfterValidator

from sms import keys
from sms.errors import Conflict, InvalidMessage, NotFound, Problem
from sms.holds import Hold, Pair, aholding, holding
from sms.times import iso

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
ID_RULE = "1 to 100 of A-Z a-z 0-9 _ . - (no ':')"
_ID = re.compile(ID_PATTERN)


class CampaignState(StrEnum):
    """Where a campaign is: workers send a running one's messages, set a paused one's aside,
    and end a cancelled one's as `cancelled`. Cancelled is final."""

    SCHEDULED = "scheduled"  # shown, never stored: running, its first message not due yet
    RUNNING = "running"
    #: shown, never stored: running, its file (if any) read to the end, no message queued or
    #: sending (each has its final status, or `unknown` for `salvo reconcile`)
    FINISHED = "finished"
    PAUSED = "paused"
    CANCELLED = "cancelled"


def shown_state(
    stored: str | None,
    starts: float | None,
    now: float | None = None,
    counts: Mapping[str, int] | None = None,
    ingest: str | None = None,
) -> CampaignState:
    """The state a campaign shows: `scheduled` while it is running and `starts` (when its first
    message is due) is still ahead; `finished` when it is running, its file's ingest (`ingest`,
    None for a campaign sent from code) is done and `counts` shows none queued or sending;
    else the state stored."""
    state = CampaignState(stored or CampaignState.RUNNING)
    if state is not CampaignState.RUNNING:
        return state
    if starts is not None and starts > (time.time() if now is None else now):
        return CampaignState.SCHEDULED
    if counts is None or counts.get("queued") or counts.get("sending"):
        return state
    # A blast's file read to the end (even with nothing enqueued), or messages sent from code.
    if ingest == IngestState.DONE.value or (ingest is None and counts.get("total")):
        return CampaignState.FINISHED
    return state


class IngestState(StrEnum):
    """Where the reading of a campaign's file is: `waiting` for its turn (an upload), `reading`
    (rows being read and enqueued), `done`, `stopped` (Redis out of reach or interrupted: the
    rows before `stopped_at` are counted; run it again, or an upload's ingest tries again by
    itself) or `failed` (with the reason; nothing more will be read)."""

    WAITING = "waiting"
    READING = "reading"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


#: The ingest counts a campaign's hash keeps (as `ingest_<name>`, the campaign's over every run
#: of its file: `merge_ingest`; and in `ingest_run`, the latest run's own), updated with every
#: chunk.
INGEST_COUNTS = ("rows", "enqueued", "duplicates", "rejected", "suppressed")
#: Seconds a `reading` ingest may go without writing progress before it shows as stalled
#: (the process reading it ended without saying so).
STALLED_AFTER = 300.0


def is_valid_id(campaign_id: str) -> bool:
    """Whether `campaign_id` follows the id rule."""
    return bool(_ID.match(campaign_id))


def check_id(campaign_id: str) -> str:
    """`campaign_id` if it follows the id rule, else InvalidMessage naming the field."""
    if not is_valid_id(campaign_id):
        raise InvalidMessage([Problem("campaign", f"{campaign_id!r}: must be {ID_RULE}")])
    return campaign_id


def _valid(campaign_id: str) -> str:
    if not is_valid_id(campaign_id):
        raise ValueError(f"must be {ID_RULE}")
    return campaign_id


#: A campaign id field of a pydantic model (the message's `campaign`).
CampaignId = Annotated[str, AfterValidator(_valid)]


def default_id(account: str, sender: str, template: str, key_column: str, content: str) -> str:
    """The campaign id of a blast given none: the same for the same account, sender (as
    validated, E.164 or short code), template, key column and file content (`content` is the
    file's SHA-256 in hex), whichever door it comes through."""
    seed = "\x1f".join([account, sender, template, key_column, content])
    return "c" + hashlib.sha256(seed.encode()).hexdigest()[:15]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as Redis holds it: its record and its messages' counts by status."""

    id: str
    state: CampaignState
    account: str = ""
    sender: str = ""  # the number its messages go from ("" for one from before it was kept)
    template: str = ""
    source: str = ""
    created: float = 0.0
    starts: float | None = None  # when its first message is due
    rejected: int = 0
    suppressed: int = 0  # rows left out because the recipient opted out
    counts: dict[str, int] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # its input's column names (a CSV's header)
    changed: dict[str, float] = field(default_factory=dict)  # state -> when it was entered
    #: The reading of its file: state, reason, counts and when it last moved (None: never
    #: recorded, a campaign from before ingest progress was kept).
    ingest: dict[str, Any] | None = None
    hold: Hold | None = None  # what holds its waiting messages back, while one is in force

    @property
    def pair(self) -> Pair:
        """Its (account, sender): what a hold may pause."""
        return (self.account, self.sender)

    @property
    def queued(self) -> bool:
        """Whether some of its messages wait to be sent (so a hold may keep them)."""
        return bool(self.counts.get("queued")) and bool(self.account)

    def held(self, found: Mapping[Pair, Hold | None]) -> Campaign:
        """This campaign with what holds its waiting messages back (sms.holds.holding)."""
        return replace(self, hold=found.get(self.pair)) if self.queued else self

    @classmethod
    def from_hashes(
        cls, campaign_id: str, meta: dict[str, str], raw: dict[str, str], now: float | None = None
    ) -> Campaign:
        """A campaign from its record's and its counts' HGETALL, its state as shown at `now`
        (`shown_state`)."""
        changed = {}
        for name, value in meta.items():
            state = name.removesuffix("_at")
            if name.endswith("_at") and state in CampaignState.__members__.values():
                changed[state] = float(value)
        starts = float(meta["starts"]) if meta.get("starts") else None
        counts = {k: int(v) for k, v in raw.items()}
        return cls(
            id=campaign_id,
            state=shown_state(meta.get("state"), starts, now, counts, meta.get("ingest")),
            account=meta.get("account", ""),
            sender=meta.get("sender", ""),
            template=meta.get("template", ""),
            source=meta.get("source", ""),
            created=float(meta.get("created") or 0),
            starts=starts,
            rejected=int(meta.get("rejected") or 0),
            suppressed=int(meta.get("suppressed") or 0),
            counts=counts,
            columns=tuple(json.loads(meta["columns"])) if meta.get("columns") else (),
            changed=changed,
            ingest=_ingest(meta),
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe view, the same for `salvo status --json` and the HTTP API (times ISO
        8601)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "account": self.account,
            "sender": self.sender,
            "template": self.template,
            "source": self.source,
            "created": iso(self.created),
            "starts": iso(self.starts) if self.starts is not None else None,
            "rejected": self.rejected,
            "suppressed": self.suppressed,
            "counts": self.counts,
            "ingest": self.ingest,
            "held": self.hold.text() if self.hold else None,
        }


def _ingest(meta: dict[str, str]) -> dict[str, Any] | None:
    """A campaign's ingest as its hash holds it, `stalled` when a `reading` one has not moved
    for STALLED_AFTER seconds."""
    state = meta.get("ingest")
    if not state:
        return None
    updated = float(meta.get("ingest_at") or 0)
    reason = meta.get("ingest_reason", "")
    if state == IngestState.READING and time.time() - updated > STALLED_AFTER:
        state = "stalled"
        reason = (
            f"no progress for {STALLED_AFTER:g} s: the process reading the file ended; send the "
            "same file again to finish (rows already enqueued are not sent twice)"
        )
    out: dict[str, Any] = {"state": state, "reason": reason}
    for name in INGEST_COUNTS:
        out[name] = int(meta.get(f"ingest_{name}") or 0)
    stopped_at = meta.get("ingest_stopped_at")
    out["stopped_at"] = int(stopped_at) if stopped_at else None
    out["updated"] = iso(updated) if updated else None
    run = meta.get("ingest_run")
    out["run"] = {n: int(v) for n, v in json.loads(run).items()} if run else None
    return out


def merge_ingest(
    before: Mapping[str, int],
    run: Mapping[str, int],
    now: Mapping[str, int] | None = None,
    written: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """A campaign's ingest counts once a run of its file has counted `run`, from its counts
    before the run (`before`: every earlier run's, merged). `now` is what the campaign's hash
    holds at this write (`before`, unless this run or another wrote since) and `written` this
    run's counts at its last write (none: zeros): what this run enqueued since is added to
    `now`, so two runs of the same campaign at once add up instead of the last one's write
    winning.

    The campaign's counts are of the rows it holds, not of how often its file was read: a
    replay's rows whose message an earlier run enqueued are the campaign's enqueued rows, not
    repeats. So `enqueued` adds up every run's (a replay of the same file adds 0);
    `duplicates` are the rows repeating a message the same file already holds (a run's repeats
    beyond what earlier runs enqueued, the most any run found); `rejected` and `suppressed`
    the most any run found (a replay rejects the same rows again); `rows` their sum (the same
    file twice: its rows once)."""

    def of(counts: Mapping[str, int], name: str) -> int:
        return int(counts.get(name, 0))

    now = before if now is None else now
    written = written or {}
    enqueued = of(now, "enqueued") + of(run, "enqueued") - of(written, "enqueued")
    duplicates = max(of(now, "duplicates"), of(run, "duplicates") - of(before, "enqueued"))
    rejected = max(of(now, "rejected"), of(run, "rejected"))
    suppressed = max(of(now, "suppressed"), of(run, "suppressed"))
    return {
        "rows": enqueued + duplicates + rejected + suppressed,
        "enqueued": enqueued,
        "duplicates": duplicates,
        "rejected": rejected,
        "suppressed": suppressed,
    }


def ingest_counts(client: redis.Redis, campaign_id: str) -> dict[str, int]:
    """A campaign's ingest counts as recorded (zeros for none): what a new run of its file
    starts from (`merge_ingest`)."""
    fields = [f"ingest_{name}" for name in INGEST_COUNTS]
    values = cast(list[str | None], client.hmget(keys.campaign(check_id(campaign_id)), fields))
    return {name: int(v or 0) for name, v in zip(INGEST_COUNTS, values, strict=True)}


def record_ingest(
    client: redis.Redis,
    campaign_id: str,
    state: IngestState,
    run: dict[str, int] | None = None,
    *,
    before: Mapping[str, int] | None = None,
    written: Mapping[str, int] | None = None,
    reason: str = "",
    stopped_at: int | None = None,
) -> None:
    """Record where the reading of a campaign's file is. `run`, the counts of the run so far
    (None: left as they are), is kept as the run's own (`ingest_run`) and, merged with the
    campaign's counts from before the run (`before`, from `ingest_counts`) and as they are now
    (read and written in one WATCHed transaction; `written`, this run's counts at its last
    write), as the campaign's (`merge_ingest`): a replay never lowers them, and two runs at
    once add up."""
    fields: dict[str, str | int] = {
        "ingest": state.value,
        "ingest_reason": reason,
        "ingest_at": repr(time.time()),
        "ingest_stopped_at": "" if stopped_at is None else stopped_at,
    }
    key = keys.campaign(check_id(campaign_id))
    if run is not None:
        fields["ingest_run"] = json.dumps({name: run.get(name, 0) for name in INGEST_COUNTS})
    if run is None or before is None:
        client.hset(key, mapping=cast(Any, fields))
        return
    names = [f"ingest_{name}" for name in INGEST_COUNTS]

    def merge(pipe: Any) -> None:  # WATCHing the hash: retried if anyone wrote it meanwhile
        held = cast(list[str | None], pipe.hmget(key, names))
        now = {name: int(v or 0) for name, v in zip(INGEST_COUNTS, held, strict=True)}
        merged = merge_ingest(before, run, now, written)
        pipe.multi()
        pipe.hset(key, mapping={**fields, **{f"ingest_{n}": merged[n] for n in INGEST_COUNTS}})

    client.transaction(merge, key)


def create(
    client: redis.Redis,
    campaign_id: str,
    *,
    account: str,
    template: str,
    source: str,
    sender: str = "",
    starts: float | None = None,
) -> None:
    """Record a campaign, and list it in `keys.CAMPAIGNS`. Again, for a replay, its record
    is kept: its creation time, state, account, sender, template and source are the first
    run's.
    `starts` is when its messages are due (None: now); a replay keeps the earlier of the
    two."""
    key = keys.campaign(check_id(campaign_id))
    now = time.time()
    pipe = client.pipeline(transaction=True)
    pipe.hsetnx(key, "created", repr(now))
    pipe.zadd(keys.CAMPAIGNS, {campaign_id: now}, nx=True)
    pipe.hsetnx(key, "state", CampaignState.RUNNING.value)
    for name, value in (
        ("account", account),
        ("sender", sender),
        ("template", template),
        ("source", source),
    ):
        pipe.hsetnx(key, name, value)
    pipe.execute()
    bring_forward(client, campaign_id, now if starts is None else starts)


def bring_forward(client: redis.Redis, campaign_id: str, due: float) -> None:
    """Make a campaign's `starts` no later than `due` (a message of it due then): a message
    moved earlier ends the campaign's `scheduled` state early, never the other way."""
    key = keys.campaign(campaign_id)

    def lower(pipe: Any) -> None:
        starts = pipe.hget(key, "starts")
        if not pipe.exists(key) or (starts and float(starts) <= due):
            return
        pipe.multi()
        pipe.hset(key, "starts", repr(due))

    client.transaction(lower, key)


def record_rows(
    client: redis.Redis,
    campaign_id: str,
    *,
    rejected: int,
    suppressed: int | None = None,
    first_rejects: list[tuple[int, str]] | None = None,
    columns: list[str] | None = None,
) -> None:
    """Record how many of the campaign's rows were rejected and left out as opted out, the
    first rejected rows (line and reason), and its input's column names."""
    rows: dict[str, int | str] = {"rejected": rejected}
    if columns is not None:
        rows["columns"] = json.dumps(columns, ensure_ascii=False)
    if suppressed is not None:
        rows["suppressed"] = suppressed
    if first_rejects is not None:
        rows["rejects"] = json.dumps(first_rejects)
    client.hset(keys.campaign(campaign_id), mapping=cast(Any, rows))


def refuse_cancelled(client: redis.Redis, campaign_id: str) -> None:
    """Conflict when the campaign exists and is cancelled: a file sent under it again would
    only have its new rows end `cancelled`, unsent, as every message of it does (the blast,
    its preflight and an upload refuse it before reading a row)."""
    state = cast(str | None, client.hget(keys.campaign(check_id(campaign_id)), "state"))
    if state == CampaignState.CANCELLED.value:
        raise Conflict(
            f"campaign {campaign_id} is cancelled: nothing more is sent under it; "
            "send the file as another campaign"
        )


def read(client: redis.Redis, campaign_id: str) -> Campaign:
    """A campaign and its counts (NotFound when there is none, or the id is not one)."""
    if not is_valid_id(campaign_id):
        raise NotFound(f"no campaign with id {campaign_id!r}")
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.campaign(campaign_id))
    pipe.hgetall(keys.campaign_counts(campaign_id))
    meta, raw = cast(list[dict[str, str]], pipe.execute())
    if not meta:
        raise NotFound(f"no campaign with id {campaign_id!r}")
    campaign = Campaign.from_hashes(campaign_id, meta, raw)
    return campaign.held(holding(client, [campaign.pair])) if campaign.queued else campaign


async def read_async(client: aredis.Redis, campaign_id: str) -> Campaign:
    """`read` on an asyncio client."""
    if not is_valid_id(campaign_id):
        raise NotFound(f"no campaign with id {campaign_id!r}")
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.campaign(campaign_id))
    pipe.hgetall(keys.campaign_counts(campaign_id))
    meta, raw = cast(list[dict[str, str]], await pipe.execute())
    if not meta:
        raise NotFound(f"no campaign with id {campaign_id!r}")
    campaign = Campaign.from_hashes(campaign_id, meta, raw)
    if campaign.queued:
        campaign = campaign.held(await aholding(client, [campaign.pair]))
    return campaign


def change_state(client: redis.Redis, campaign_id: str, state: CampaignState) -> CampaignState:
    """Set a campaign's state, unless it is missing (NotFound) or cancelled (Conflict);
    returns the state it showed (`scheduled` is shown, never set). A concurrent change makes
    the transaction run again."""
    if not is_valid_id(campaign_id):
        raise NotFound(f"no campaign with id {campaign_id!r}")
    key = keys.campaign(campaign_id)
    previous = CampaignState.RUNNING

    def change(pipe: Any) -> None:
        nonlocal previous
        if not pipe.exists(key):
            raise NotFound(f"no campaign with id {campaign_id!r}")
        stored, starts = pipe.hmget(key, ["state", "starts"])
        previous = shown_state(stored, float(starts) if starts else None)
        if previous is CampaignState.CANCELLED and state is not CampaignState.CANCELLED:
            raise Conflict(f"campaign {campaign_id!r} is cancelled: it cannot be {state}")
        pipe.multi()
        pipe.hset(key, mapping={"state": state.value, f"{state.value}_at": repr(time.time())})

    client.transaction(change, key)
    return previous
