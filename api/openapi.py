"""The OpenAPI document of the HTTP API, written by hand to say exactly what the handlers do.

Served at `/openapi.json`; tests/test_http_api.py drives every operation from it (schemathesis)
and checks each answer against it, so a handler and its description cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.campaigns import JSONL_TYPES
from api.messages import DEFAULT_LANE

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


ERROR = _answer("An error, said in words", "Error")
INVALID = _answer("Validation failed: every problem with its field and reason", "Invalid")
UNAUTHORIZED = _answer("No API key, or an unknown one", "Error")
TOO_LARGE = _answer("The body is larger than the configured limit", "Error")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

MESSAGE_IN: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["account", "to", "from"],
    "properties": {
        "account": {
            "type": "string",
            "minLength": 1,
            "description": "provider account name from the settings",
        },
        "to": {
            "type": "string",
            "description": "recipient, E.164 (+14155551234; spaces and punctuation allowed)",
            "example": "+12025550123",
        },
        "from": {"type": "string", "minLength": 1, "description": "sender number or short code"},
        "body": {"type": "string", "default": ""},
        "media_urls": {"type": "array", "items": {"type": "string"}},
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200},
        "lane": {"type": "string", "enum": ["transactional", "bulk"], "default": DEFAULT_LANE},
        "send_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "from_mask": {"type": "string"},
                "campaign_ref": {"type": "string"},
                "click_tracking": {"type": "boolean"},
                "group_recipients": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}

HISTORY = {
    "type": "object",
    "required": ["at", "status", "reason"],
    "properties": {
        "at": {"type": "number", "description": "epoch seconds"},
        "status": {"type": "string"},
        "reason": {"type": "string"},
    },
}

RECORD = {
    "type": "object",
    "required": ["id", "status", "account", "to", "attempts", "reason", "history"],
    "properties": {
        "id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": [
                "queued",
                "sending",
                "sent",
                "delivered",
                "undelivered",
                "failed",
                "unknown",
                "expired",
                "cancelled",
            ],
        },
        "account": {"type": "string"},
        "to": {"type": "string"},
        "campaign": {"type": "string", "nullable": True},
        "attempts": {"type": "integer"},
        "reason": {"type": "string"},
        "provider_id": {"type": "string", "nullable": True},
        "created": {"type": "number"},
        "updated": {"type": "number"},
        "history": {"type": "array", "items": _ref("HistoryEntry")},
    },
}

BLAST = {
    "type": "object",
    "required": ["campaign", "rows", "enqueued", "duplicates", "rejected", "reasons", "rejects"],
    "properties": {
        "campaign": {"type": "string"},
        "rows": {"type": "integer"},
        "enqueued": {"type": "integer"},
        "duplicates": {"type": "integer", "description": "rows already enqueued before"},
        "rejected": {"type": "integer"},
        "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
        "rejects": {
            "type": "array",
            "description": "the first 100 rejected rows",
            "items": {
                "type": "object",
                "required": ["line", "reason"],
                "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}},
            },
        },
    },
}

CAMPAIGN = {
    "type": "object",
    "required": ["id", "state", "counts"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string"},
        "account": {"type": "string"},
        "template": {"type": "string"},
        "source": {"type": "string"},
        "created": {"type": "number"},
        "rejected": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}

RECEIPT_ANSWER = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {
            "type": "string",
            "enum": ["moved", "stale", "unmatched", "held", "ignored"],
        },
        "id": {"type": "string", "nullable": True},
        "status": {"type": "string", "nullable": True},
    },
}

CONTROL = {
    "type": "object",
    "required": ["campaign", "previous", "state", "republished", "brought_forward"],
    "properties": {
        "campaign": {"type": "string"},
        "previous": {"type": "string", "enum": ["running", "paused", "cancelled"]},
        "state": {"type": "string", "enum": ["running", "paused", "cancelled"]},
        "republished": {"type": "integer", "description": "set-aside messages published again"},
        "brought_forward": {
            "type": "integer",
            "description": "scheduled messages made due now (cancel)",
        },
    },
}

HEALTH = {
    "type": "object",
    "required": ["status", "redis", "workers", "problems"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "redis": {"type": "boolean"},
        "workers": {"type": "integer"},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
}

PROBLEM = {
    "type": "object",
    "required": ["field", "reason"],
    "properties": {
        "index": {"type": "integer", "description": "which message of the request"},
        "field": {"type": "string"},
        "reason": {"type": "string"},
    },
}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": schema.pop("required", False),
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


OUR_ID = _query("m", "our message id, as JustCall's per-message webhook_url carries it")
RECEIPT_OPERATION: dict[str, Any] = {
    "summary": "A provider's delivery receipt, in that provider's own shape",
    "description": (
        "Authenticated by JustCall's x-justcall-signature where the account uses signed "
        "webhooks, otherwise by the account's receipt_secret in the path. Status only moves "
        "forward; a duplicate, late or unmatched receipt is answered 200 and changes nothing. "
        "One whose provider id is not recorded yet is held until the send is recorded."
    ),
    "security": [],
    "requestBody": {
        "required": True,
        "content": {JSON: {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": _answer("Read; applied, stale, unmatched, held or ignored", "ReceiptAnswer"),
        "400": _answer("Not this provider's receipt shape", "Error"),
        "401": _answer("Not authenticated", "Error"),
        "404": _answer("No such provider account", "Error"),
        "413": TOO_LARGE,
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Salvo",
        "version": "1",
        "description": (
            "Bulk SMS and MMS: send messages and campaigns, read their status and history, "
            "receive providers' delivery receipts. Every /v1 path but receipts needs an API key."
        ),
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "MessageIn": MESSAGE_IN,
            "Record": RECORD,
            "HistoryEntry": HISTORY,
            "Blast": BLAST,
            "Campaign": CAMPAIGN,
            "Control": CONTROL,
            "ReceiptAnswer": RECEIPT_ANSWER,
            "Health": HEALTH,
            "Problem": PROBLEM,
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Invalid": {
                "type": "object",
                "required": ["errors"],
                "properties": {"errors": {"type": "array", "items": _ref("Problem")}},
            },
        },
    },
    "paths": {
        "/v1/messages": {
            "post": {
                "summary": "Send one message or a list of them",
                "security": SECURED,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "for a list, each message gets this key plus ':{index}'",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "oneOf": [
                                    _ref("MessageIn"),
                                    {"type": "array", "minItems": 1, "items": _ref("MessageIn")},
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Enqueued (or already enqueued under the same key)",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["ids", "repeat", "repeats"],
                                    "properties": {
                                        "ids": {"type": "array", "items": {"type": "string"}},
                                        "repeat": {"type": "boolean"},
                                        "repeats": {"type": "array", "items": {"type": "integer"}},
                                    },
                                }
                            }
                        },
                    },
                    "400": _answer("The body is not JSON", "Error"),
                    "409": _answer(
                        "An idempotency key already names a message with different content",
                        "Error",
                    ),
                    "401": UNAUTHORIZED,
                    "413": TOO_LARGE,
                    "422": INVALID,
                },
            }
        },
        "/v1/messages/{id}": {
            "get": {
                "summary": "A message's status, attempts and status history",
                "security": SECURED,
                "parameters": [_path("id")],
                "responses": {
                    "200": _answer("The message's record", "Record"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                },
            }
        },
        "/v1/campaigns": {
            "post": {
                "summary": "A campaign from a CSV or JSONL upload, streamed",
                "description": (
                    "The body is the file itself: a CSV with a header line and a `phone` column, "
                    "or JSONL with one object per line with a `phone` key. Other columns or keys "
                    "fill the template's {fields}."
                ),
                "security": SECURED,
                "parameters": [
                    _query("account", "provider account name", required=True, minLength=1),
                    _query("from", "sender number or short code", required=True, minLength=1),
                    _query(
                        "template", "message text with {column} fields", required=True, minLength=1
                    ),
                    _query("format", "default: from Content-Type, else csv", enum=["csv", "jsonl"]),
                    _query("campaign", "campaign id (default: digest of the file and settings)"),
                    _query("key_column", "column whose value keys each row (default phone)"),
                    _query("lane", "default bulk", enum=["transactional", "bulk"]),
                    _query("send_at", "send at this time", format="date-time"),
                    _query("expires_at", "never send after this time", format="date-time"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        media: {"schema": {"type": "string"}}
                        for media in ("text/csv", *JSONL_TYPES)
                    },
                },
                "responses": {
                    "200": _answer("dry_run=true: what the blast would do", "Preflight"),
                    "202": _answer("Enqueued; counts of rows, duplicates and rejects", "Blast"),
                    "401": UNAUTHORIZED,
                    "413": TOO_LARGE,
                    "422": INVALID,
                },
            }
        },
        "/v1/campaigns/{id}": {
            "get": {
                "summary": "A campaign's state and its messages' counts by status",
                "security": SECURED,
                "parameters": [_path("id")],
                "responses": {
                    "200": _answer("The campaign", "Campaign"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                },
            }
        },
        **{
            f"/v1/campaigns/{{id}}/{action}": {
                "post": {
                    "summary": summary,
                    "security": SECURED,
                    "parameters": [_path("id")],
                    "responses": {
                        "200": _answer("The campaign's state before and after", "Control"),
                        "401": UNAUTHORIZED,
                        "404": ERROR,
                        "409": _answer("A cancelled campaign cannot change state", "Error"),
                    },
                }
            }
            for action, summary in (
                ("pause", "Pause a campaign: workers set its queued messages aside"),
                ("resume", "Resume a paused campaign: what was set aside is published again"),
                ("cancel", "Cancel a campaign: every message it has not sent ends cancelled"),
            )
        },
        "/v1/receipts/{account}": {
            "post": {**RECEIPT_OPERATION, "parameters": [_path("account"), OUR_ID]}
        },
        "/v1/receipts/{account}/{secret}": {
            "post": {
                **RECEIPT_OPERATION,
                "parameters": [_path("account"), _path("secret"), OUR_ID],
            }
        },
        "/healthz": {
            "get": {
                "summary": "Redis reachable and a worker seen in the last 30 s",
                "security": [],
                "responses": {
                    "200": _answer("Healthy", "Health"),
                    "503": _answer("Not healthy; `problems` says why", "Health"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.0",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
}


# The audience's paths and schemas (api/openapi_audience.py uses the helpers above).
from api import openapi_audience  # noqa: E402

DOCUMENT["paths"].update(openapi_audience.PATHS)
DOCUMENT["components"]["schemas"].update(openapi_audience.SCHEMAS)
DOCUMENT["paths"]["/v1/campaigns"]["post"]["parameters"] += openapi_audience.CAMPAIGN_PARAMETERS


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document."""
    return web.json_response(DOCUMENT)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/openapi.json", openapi)
