"""Messages held as `unknown`, and the operator's decisions on them (producer/reconcile.py, as
`salvo reconcile`): resend, mark sent, mark failed."""

from __future__ import annotations

import asyncio
from typing import cast, get_args
from urllib.parse import urlencode

from aiohttp import web

from api.dashboard.render import page
from api.shared import PRODUCER
from producer.reconcile import Decision, held, resolve

SHOWN = 200  # oldest unknown messages listed
DECISIONS = get_args(Decision)


async def unknown_page(request: web.Request) -> web.Response:
    """The oldest unknown messages, with a form to resolve a selection of them."""
    messages = await asyncio.to_thread(held, request.app[PRODUCER], None, SHOWN)
    return page(
        request,
        "unknown.html",
        messages=messages,
        shown=SHOWN,
        decisions=DECISIONS,
        note=request.query.get("done", ""),
        live=True,
        title="Unknown",
    )


async def resolve_selected(request: web.Request) -> web.Response:
    """Apply one decision to the selected messages, then list them again (303)."""
    form = await request.post()
    decision = form.get("decision")
    ids = [str(v) for v in form.getall("id", [])]
    note = str(form.get("note", "")).strip()[:200]
    if decision not in DECISIONS or not ids:
        why = "choose messages and one of: " + ", ".join(DECISIONS)
        raise web.HTTPSeeOther("/unknown?" + urlencode({"done": why}))
    chosen = cast(Decision, decision)
    done = await asyncio.to_thread(resolve, request.app[PRODUCER], ids, chosen, note)
    moved = sum(done.values())
    said = f"{chosen}: {moved} of {len(ids)} resolved"
    if moved < len(ids):
        said += f" ({len(ids) - moved} no longer unknown)"
    raise web.HTTPSeeOther("/unknown?" + urlencode({"done": said}))
