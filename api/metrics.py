"""`GET /metrics`: Prometheus text, read from Redis at scrape time.

Workers keep per-account counters in `keys.stats(account)` (field names in sms/metrics.py); a
custom collector turns them into counters, a latency histogram (its buckets made cumulative
here) and gauges of the lanes' and the schedule's depth. The scrape runs in a thread, since
prometheus-client's collectors are synchronous. Open like /healthz: it carries counts by
account and status, no message data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import cast

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from api.shared import PRODUCER, SETTINGS
from sms import keys
from sms.message import Lane
from sms.metrics import CALLBACKS, LATENCY_BOUNDS, RECEIPTS_DROPPED, WAIT_BOUNDS
from sms.settings import Settings

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class StatsCollector(Collector):
    """Salvo's counters and queue depths, read from Redis each time it is collected."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        """One consistent-enough read of every account's stats and the queues."""
        known = cast(set[str], self.client.smembers(keys.ACCOUNTS))
        accounts = sorted(set(self.settings.providers) | known)
        pipe = self.client.pipeline(transaction=False)
        for account in accounts:
            pipe.hgetall(keys.stats(account))
        lanes = [lane.value for lane in Lane]
        for lane in lanes:
            pipe.llen(lane)
        for account in accounts:
            for lane in lanes:
                pipe.zcard(keys.ready(account, lane))
        pipe.zcard(keys.HOOKS_DUE)
        *results, pending = pipe.execute()
        stats = dict(zip(accounts, results[: len(accounts)], strict=True))
        depths = results[len(accounts) : len(accounts) + len(lanes)]
        waiting = results[len(accounts) + len(lanes) :]

        messages = CounterMetricFamily(
            "salvo_messages", "Messages that entered each status.", labels=["account", "status"]
        )
        answers = CounterMetricFamily(
            "salvo_provider_answers",
            "Provider answers by outcome class.",
            labels=["account", "outcome"],
        )
        retries = CounterMetricFamily(
            "salvo_retries", "Sends rescheduled after a retryable failure.", labels=["account"]
        )
        dropped = CounterMetricFamily(
            "salvo_receipts_dropped",
            "Held receipts dropped when their hold ended with no send recorded for them.",
            labels=["account"],
        )
        hooks = CounterMetricFamily(
            "salvo_callbacks",
            "Status callbacks posted: delivered, failed (a try, retried later), dropped.",
            labels=["account", "outcome"],
        )
        latency = HistogramMetricFamily(
            "salvo_send_latency_seconds", "Time of one provider call.", labels=["account"]
        )
        for account in accounts:
            fields: dict[str, str] = stats[account]
            for name, value in sorted(fields.items()):
                kind, _, label = name.partition(":")
                if kind == "status":
                    messages.add_metric([account, label], float(value))
                elif kind == "outcome":
                    answers.add_metric([account, label], float(value))
                elif kind == CALLBACKS:
                    hooks.add_metric([account, label], float(value))
            retries.add_metric([account], float(fields.get("retries", 0)))
            dropped.add_metric([account], float(fields.get(RECEIPTS_DROPPED, 0)))
            buckets, total = [], 0.0
            for bound in (*LATENCY_BOUNDS, float("inf")):
                le = "+Inf" if bound == float("inf") else repr(bound)
                total += float(fields.get(f"latency_le:{le}", 0))
                buckets.append((le, total))
            latency.add_metric([account], buckets, float(fields.get("latency_sum", 0)))
        waits = HistogramMetricFamily(
            "salvo_accept_wait_seconds",
            "From when a message was due (enqueued, or its send_at) to the provider accepting it.",
            labels=["account", "lane"],
        )
        for account in accounts:
            fields = stats[account]
            for lane in (lane.value for lane in Lane):
                buckets, total = [], 0.0
                for bound in (*WAIT_BOUNDS, float("inf")):
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    total += float(fields.get(f"wait_le:{lane}:{le}", 0))
                    buckets.append((le, total))
                waits.add_metric([account, lane], buckets, float(fields.get(f"wait_sum:{lane}", 0)))
        yield from (messages, answers, retries, dropped, hooks, latency, waits)

        queue = GaugeMetricFamily(
            "salvo_queue_depth", "Batches waiting on a lane.", labels=["lane"]
        )
        for lane, depth in zip(lanes, depths, strict=True):
            queue.add_metric([lane], float(depth))
        yield queue
        yield GaugeMetricFamily(
            "salvo_callbacks_waiting",
            "Status callback events not yet delivered (due now, later, or in flight).",
            value=float(pending),
        )
        ready = GaugeMetricFamily(
            "salvo_waiting",
            "Messages waiting in an account's ready queue (due now or later).",
            labels=["account", "lane"],
        )
        pairs = [(a, lane) for a in accounts for lane in lanes]
        for (account, lane), n in zip(pairs, waiting, strict=True):
            ready.add_metric([account, lane], float(n))
        yield ready


def registry_for(app: web.Application) -> CollectorRegistry:
    """A registry of its own (not the process-global one) holding Salvo's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(app[PRODUCER].redis, app[SETTINGS]))
    return registry


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus exposition of Salvo's counters."""
    body = await asyncio.to_thread(generate_latest, request.app[REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/metrics", metrics)
