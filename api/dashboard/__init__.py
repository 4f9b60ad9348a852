"""The dashboard `salvo api` serves at `/`: server-rendered pages for the people who run
campaigns, behind a sign-in with one of the configured API keys.

Pages: campaigns (list, one campaign, pause / resume / cancel), accounts, reminders (the
transactional lane), unknown messages (reconcile). Templates and static files are package data;
a small script (static/dashboard.js) refreshes the live part of a page every two seconds. It
reads through the producer's Python API and `sms.keys`; what the send engine keeps in its
queues is read in one module, `queues.py`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.dashboard import accounts, campaigns, history, reminders, results, signin, unknown
from api.dashboard.session import signed_in

STATIC = Path(__file__).parent / "static"


def add_routes(app: web.Application) -> None:
    """Register the dashboard's pages and static files, and the task that reads counters."""
    app.cleanup_ctx.append(history.sampling)
    r = app.router
    r.add_get("/signin", signin.signin_page)
    r.add_post("/signin", signin.signin)
    r.add_post("/signout", signed_in(signin.signout))
    r.add_get("/", signed_in(campaigns.campaign_list))
    r.add_get("/campaigns/{id}", signed_in(campaigns.campaign_page))
    r.add_get("/campaigns/{id}/results.csv", signed_in(results.export))
    r.add_get("/campaigns/{id}/rejects.csv", signed_in(results.rejects_file))
    r.add_post("/campaigns/{id}/{action:pause|resume|cancel}", signed_in(campaigns.control))
    r.add_get("/accounts", signed_in(accounts.accounts_page))
    r.add_get("/reminders", signed_in(reminders.reminders_page))
    r.add_get("/unknown", signed_in(unknown.unknown_page))
    r.add_post("/unknown", signed_in(unknown.resolve_selected))
    r.add_static("/static/", STATIC, append_version=False)
