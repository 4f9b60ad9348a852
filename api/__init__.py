"""The HTTP API (`salvo api`): messages, campaigns, delivery receipts, health and metrics."""

from __future__ import annotations

from api.app import create_app, run, serve, start

__all__ = ["create_app", "run", "serve", "start"]
