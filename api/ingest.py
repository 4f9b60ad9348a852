"""Uploads read in the background: `POST /v1/campaigns` answers 202 once the file is stored,
and a thread of the API process blasts it (producer.campaign.blast) while the campaign's
record shows the ingest's progress (sms.campaigns.record_ingest).

Why the API process and not a worker: the file is on the API's disk as it arrives, and a
worker may run on another machine; sending it through Redis would put up to `api_max_upload`
bytes in the server's memory. Why a thread: `blast` is blocking code, and its thread waits on
Redis for much of each chunk; the event loop gets the interpreter at every switch interval, so
the API keeps answering (at most `WORKERS` files are read at once, the others wait their turn).

The spool (`upload_dir`, by default `uploads/` in `data_dir`) holds each upload as
`{campaign}.csv` (or `.jsonl`) beside `{campaign}.json`, the job: the blast's spec, the file's
format and its SHA-256. The two are removed when the ingest ends (done, or failed for good);
when the process stops first, they stay, and the next `salvo api` on the same spool resumes
them at start: a blast run again enqueues only what was not enqueued (each row's key is
`{campaign}:{key}`). Several API processes may share a spool: a job is read under a lease in
Redis (`keys.campaign_ingest_lease`), renewed with each chunk, so one process reads it at a
time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from producer.api import Producer
from producer.campaign import STOPS, BlastSpec, Format, Interrupted, blast, sender_of
from sms import campaigns, keys
from sms.campaigns import IngestState
from sms.embedded import default_data_dir
from sms.errors import ConfigError, Conflict, InvalidInput, TemplateError
from sms.message import Lane
from sms.settings import Settings

log = logging.getLogger("salvo.api.ingest")

#: Files read at once by one API process.
WORKERS = 1
#: Milliseconds a job's lease lasts without being renewed (renewed with every chunk).
LEASE_MS = 60_000
#: Seconds between two tries of a job whose blast stopped because Redis was out of reach.
RETRY_AFTER = (5.0, 10.0, 30.0, 60.0)


def spool_dir(settings: Settings) -> Path:
    """Where uploads wait to be read."""
    return settings.upload_dir or (settings.data_dir or default_data_dir()) / "uploads"


@dataclasses.dataclass(frozen=True)
class Job:
    """One upload to read: its campaign, file, format, content digest and blast spec."""

    campaign: str
    path: Path
    fmt: Format
    content: str
    spec: BlastSpec

    @property
    def descriptor(self) -> Path:
        return self.path.with_suffix(".json")

    def save(self) -> None:
        """Write the job beside its file (atomically: a job file is whole or absent)."""
        spec = dataclasses.asdict(self.spec)
        for name in ("send_at", "expires_at"):
            spec[name] = spec[name].isoformat() if spec[name] else None
        spec["lane"] = self.spec.lane.value
        data = {"campaign": self.campaign, "fmt": self.fmt, "content": self.content, "spec": spec}
        tmp = self.descriptor.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.descriptor)

    @classmethod
    def load(cls, descriptor: Path) -> Job:
        data = json.loads(descriptor.read_text(encoding="utf-8"))
        spec: dict[str, Any] = data["spec"]
        for name in ("send_at", "expires_at"):
            spec[name] = datetime.fromisoformat(spec[name]) if spec[name] else None
        spec["lane"] = Lane(spec["lane"])
        path = descriptor.with_suffix("." + data["fmt"])
        return cls(data["campaign"], path, data["fmt"], data["content"], BlastSpec(**spec))

    def remove(self) -> None:
        for path in (self.path, self.descriptor, self.path.with_suffix(".rejects.csv")):
            path.unlink(missing_ok=True)


class Ingests:
    """The uploads this API process reads, in a pool of `WORKERS` threads."""

    def __init__(self, producer: Producer, spool: Path) -> None:
        self.producer = producer
        self.spool = spool
        try:
            self.spool.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"upload_dir {spool}: {exc.strerror}; set upload_dir to a writable directory"
            ) from None
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="salvo-ingest")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.running: dict[str, str] = {}  # campaign -> the content digest of its upload

    def busy(self, campaign: str) -> str | None:
        """The content digest of the upload this process is reading for `campaign`, if any."""
        with self._lock:
            return self.running.get(campaign)

    def reserve(self, campaign: str, content: str) -> str | None:
        """Take `campaign` for an upload of `content` (None), unless this process is reading
        another upload for it already (then that upload's content digest)."""
        with self._lock:
            held = self.running.get(campaign)
            if held is None:
                self.running[campaign] = content
            return held

    def release(self, campaign: str) -> None:
        """Give back a campaign reserved for an upload that will not be read."""
        with self._lock:
            self.running.pop(campaign, None)

    def submit(self, job: Job) -> None:
        """Queue a stored job; its campaign shows `waiting` until a thread takes it."""
        with self._lock:
            self.running[job.campaign] = job.content
        self._pool.submit(self._run, job)

    def store(self, job: Job, upload: Path) -> None:
        """Move an upload into the spool as the job's file, record its campaign (`waiting`)
        and queue it (blocking: Redis and the disk)."""
        redis = self.producer.redis
        spec = job.spec
        campaigns.create(
            redis,
            job.campaign,
            account=spec.account,
            sender=sender_of(spec),
            template=spec.template,
            source=spec.source or "upload",
            starts=spec.send_at.timestamp() if spec.send_at else None,
        )
        # A new run, none of its rows read: the campaign's own counts stay as they are.
        zero = dict.fromkeys(campaigns.INGEST_COUNTS, 0)
        campaigns.record_ingest(redis, job.campaign, IngestState.WAITING, zero)
        os.replace(upload, job.path)
        job.save()
        self.submit(job)

    def resume(self) -> int:
        """Queue every job left in the spool by a process that stopped; how many."""
        found = 0
        for descriptor in sorted(self.spool.glob("*.json")):
            try:
                job = Job.load(descriptor)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("upload job %s unreadable (%s): left as it is", descriptor, exc)
                continue
            if not job.path.exists():
                job.remove()
                continue
            self.submit(job)
            found += 1
        return found

    def close(self) -> None:
        """Stop reading: the blasts in hand stop after their chunk (their jobs stay for the
        next start), the queued ones are not started."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _pause(self, job: Job, why: str, tries: int) -> int:
        """Wait before trying a job again (5, 10, 30, then every 60 s; less when stopping)."""
        wait = RETRY_AFTER[min(tries, len(RETRY_AFTER) - 1)]
        log.warning("ingest of campaign %s stopped (%s): again in %g s", job.campaign, why, wait)
        self._stopping.wait(wait)
        return tries + 1

    def _run(self, job: Job) -> None:
        try:
            self._read(job)
        except Exception:
            log.exception("ingest of campaign %s failed", job.campaign)
            failed(self.producer.redis, job.campaign, "internal error: see the API's log")
            job.remove()
        finally:
            with self._lock:
                self.running.pop(job.campaign, None)

    def _read(self, job: Job) -> None:
        redis = self.producer.redis
        lease, token = keys.campaign_ingest_lease(job.campaign), secrets.token_hex(8)
        tries = 0
        while not self._stopping.is_set():
            try:
                # Ours still, when Redis went away before it could be given back.
                leased = redis.set(lease, token, nx=True, px=LEASE_MS) or (
                    redis.get(lease) == token and redis.pexpire(lease, LEASE_MS)
                )
            except STOPS as exc:
                tries = self._pause(job, f"Redis unreachable: {exc}", tries)
                continue
            if not leased:
                log.info("campaign %s is read by another process: left to it", job.campaign)
                return

            def renew(_: int) -> None:
                if self._stopping.is_set():
                    raise Interrupted
                if redis.get(lease) != token:
                    raise Interrupted  # another process took the job over
                redis.pexpire(lease, LEASE_MS)

            try:
                report = blast(
                    self.producer,
                    job.path,
                    job.spec,
                    rejects_path=job.path.with_suffix(".rejects.csv"),
                    progress=renew,
                    fmt=job.fmt,
                    content=job.content,
                )
            except (InvalidInput, TemplateError, Conflict) as exc:  # Conflict: cancelled since
                failed(redis, job.campaign, str(exc).replace(str(job.path), "upload"))
                job.remove()
                return
            finally:
                with_redis(lambda: redis.delete(lease) if redis.get(lease) == token else None)
            if report.stopped is None:
                job.remove()
                return
            if not report.stopped.startswith("Redis"):
                return  # interrupted: the process is stopping, the job stays for the next
            tries = self._pause(job, report.stopped, tries)


def failed(redis: Any, campaign: str, reason: str) -> None:
    """Record that a campaign's file will not be read, and why (unless Redis is out of reach)."""
    with_redis(lambda: campaigns.record_ingest(redis, campaign, IngestState.FAILED, reason=reason))


def with_redis(call: Any) -> Any:
    """`call()`, or None when Redis is out of reach (the state is written again later)."""
    try:
        return call()
    except STOPS:
        return None


INGESTS = web.AppKey("ingests", Ingests)


def setup(app: web.Application, settings: Settings, producer: Producer) -> Ingests:
    """The app's ingests, with the jobs left in its spool queued again."""
    ingests = Ingests(producer, spool_dir(settings))
    app[INGESTS] = ingests
    resumed = ingests.resume()
    if resumed:
        log.info("resumed %d upload(s) left in %s", resumed, ingests.spool)
    return ingests
