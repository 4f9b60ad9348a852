"""The Celery app: Redis broker, JSON only, late acks, and two lanes.

`transactional` is consumed ahead of `bulk`: kombu's Redis transport polls queues with BRPOP in
the order of its queue cycle, and the `priority` strategy keeps that order fixed, so a reminder
never waits behind a blast. The queues hold only metered work (worker/meter.py), so they stay
short. The visibility timeout is set for the broker and the result backend alike and is far
above a batch's longest run (each id waits at most TOKEN_WAIT for its token, and is claimed,
with a lease of its own, only for the time of its call).
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Exchange, Queue

from sms.connect import celery_broker
from sms.message import Lane

SEND_BATCH = "salvo.send_batch"
VISIBILITY_TIMEOUT = 3600  # seconds


def make_app(redis_url: str) -> Celery:
    """A Celery app on the server `redis_url` names (standalone or behind Sentinel), configured
    for at-least-once delivery of batches."""
    broker_url, sentinel = celery_broker(redis_url)
    app = Celery("salvo", broker=broker_url, set_as_current=False)
    transport = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "queue_order_strategy": "priority",
        **sentinel,
    }
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        # Each lane its own exchange and routing key: a Queue left without them takes the
        # default queue's, and a task published to one lane would be copied to both.
        task_queues=[
            Queue(lane.value, Exchange(lane.value), routing_key=lane.value) for lane in Lane
        ],
        task_default_queue=Lane.BULK.value,
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,
    )
    return app


def publish(app: Celery, account: str, lane: str, ids: list[str], batch_size: int) -> int:
    """Publish one account's `ids` as send_batch tasks of at most `batch_size` ids on `lane`
    (the only place tasks are published: worker/meter.py meters what goes); returns tasks."""
    tasks = 0
    with app.producer_or_acquire() as producer:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            app.send_task(
                SEND_BATCH,
                args=[account, lane, chunk],
                queue=lane,
                producer=producer,
                # What Flower and the logs show for the task; Celery would otherwise build a
                # safe repr of every id on each publish.
                argsrepr=f"[{account!r}, {lane!r}, <{len(chunk)} ids>]",
                kwargsrepr="{}",
            )
            tasks += 1
    return tasks
