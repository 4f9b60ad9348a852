"""The OpenAPI document's part for the audience: `/v1/optouts...`, `/v1/inbound...`, and the
campaign upload's `dry_run` and `smart_encoding` (merged into api/openapi.py's DOCUMENT)."""

from __future__ import annotations

from typing import Any

from api.openapi import ERROR, INVALID, SECURED, TOO_LARGE, UNAUTHORIZED, _answer, _path, _query
from producer.preflight import COUNTS

ACCOUNT = _query("account", "provider account name (may be left out when opt-outs are global)")
PHONE = _path("phone")
CSV_TEXT = {"text/csv": {"schema": {"type": "string"}}}

OPTOUT = {
    "type": "object",
    "required": ["phone", "account", "at", "source"],
    "properties": {
        "phone": {"type": "string"},
        "account": {"type": "string"},
        "at": {
            "type": "string",
            "format": "date-time",
            "description": "when it opted out, ISO 8601",
        },
        "source": {"type": "string", "enum": ["manual", "import", "inbound", "provider"]},
        "note": {"type": "string"},
    },
}
INBOUND_ANSWER = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {"type": "string", "enum": ["recorded", "repeat", "ignored"]},
        "id": {"type": "string", "nullable": True},
        "keyword": {"type": "string", "nullable": True, "description": "stop, start or help"},
        "action": {"type": "string", "enum": ["opted_out", "opted_in", "help", "none", "repeat"]},
    },
}
PREFLIGHT = {
    "type": "object",
    "required": ["campaign", "rows", "valid", "rejected", "duplicates", "suppressed", "segments"],
    "properties": {
        "campaign": {"type": "string"},
        "dry_run": {"type": "boolean"},
        **{name: {"type": "integer"} for name in COUNTS},
        "smart_encoding": {"type": "boolean"},
        "cost": {"type": "number", "nullable": True},
        "rate": {"type": "number", "nullable": True},
        "rate_source": {"type": "string", "enum": ["configured", "learnt", "unknown"]},
        "seconds": {"type": "number", "nullable": True, "description": "to send them all"},
        "ucs2_characters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"character": {"type": "string"}, "count": {"type": "integer"}},
            },
        },
    },
}

SCHEMAS: dict[str, Any] = {
    "OptOut": OPTOUT,
    "InboundAnswer": INBOUND_ANSWER,
    "Preflight": PREFLIGHT,
}

CAMPAIGN_PARAMETERS: list[dict[str, Any]] = [
    _query("dry_run", "read the file and report; enqueue nothing", enum=["true", "false"]),
    _query("smart_encoding", "default: the account's setting", enum=["true", "false"]),
]

_INBOUND: dict[str, Any] = {
    "summary": "A recipient's reply, in its provider's shape: STOP, START and HELP act",
    "tags": ["inbound"],
    "description": "Authenticated as receipts are. Every reply is kept (GET /v1/inbound). "
    "Skycore's postbacks may also come as a form or as XML (text/xml).",
    "security": [],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {}},
            "text/xml": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "200": _answer("Recorded, a repeat, or not a reply (ignored)", "InboundAnswer"),
        "400": _answer("Not this provider's inbound shape", "Error"),
        "401": _answer("Not authenticated", "Error"),
        "413": TOO_LARGE,
    },
}

PATHS: dict[str, Any] = {
    "/v1/optouts": {
        "get": {
            "operationId": "listOptOuts",
            "tags": ["optouts"],
            "summary": "The suppression list of an account (or the global one)",
            "security": SECURED,
            "parameters": [ACCOUNT, _query("limit", "1 to 10000 (default 1000)")],
            "responses": {
                "200": {
                    "description": "Its entries and how many there are",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": UNAUTHORIZED,
                "422": INVALID,
            },
        },
        "post": {
            "operationId": "addOptOuts",
            "tags": ["optouts"],
            "summary": "Opt numbers out: {account, phones, note}",
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Which were added and which were on the list already",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": UNAUTHORIZED,
                "413": TOO_LARGE,
                "422": INVALID,
            },
        },
    },
    "/v1/optouts/import": {
        "post": {
            "operationId": "importOptOuts",
            "tags": ["optouts"],
            "summary": "Opt out every number of a CSV (a phone column, or one per line)",
            "security": SECURED,
            "parameters": [ACCOUNT],
            "requestBody": {"required": True, "content": CSV_TEXT},
            "responses": {
                "200": {
                    "description": "Added, already on the list, and the lines that are not numbers",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": UNAUTHORIZED,
                "413": TOO_LARGE,
                "422": INVALID,
            },
        }
    },
    "/v1/optouts/export": {
        "get": {
            "operationId": "exportOptOuts",
            "tags": ["optouts"],
            "summary": "The list as CSV: phone, account, at, source, note",
            "security": SECURED,
            "parameters": [ACCOUNT],
            "responses": {
                "200": {"description": "CSV", "content": CSV_TEXT},
                "401": UNAUTHORIZED,
                "422": INVALID,
            },
        }
    },
    "/v1/optouts/{phone}": {
        "get": {
            "operationId": "getOptOut",
            "tags": ["optouts"],
            "summary": "One number's opt-out",
            "security": SECURED,
            "parameters": [PHONE, ACCOUNT],
            "responses": {
                "200": _answer("Its opt-out", "OptOut"),
                "401": UNAUTHORIZED,
                "404": ERROR,
                "422": INVALID,
            },
        },
        "delete": {
            "operationId": "deleteOptOut",
            "tags": ["optouts"],
            "summary": "Opt a number back in",
            "security": SECURED,
            "parameters": [PHONE, ACCOUNT],
            "responses": {
                "200": {
                    "description": "Whether it was on the list",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": UNAUTHORIZED,
                "422": INVALID,
            },
        },
    },
    "/v1/inbound": {
        "get": {
            "operationId": "listInbound",
            "tags": ["inbound"],
            "summary": "The replies kept, newest first",
            "security": SECURED,
            "parameters": [
                _query("account", "only this account's"),
                _query("limit", "1 to 1000 (default 100)"),
                _query("before", "an id from an earlier answer: the page after it"),
            ],
            "responses": {
                "200": {
                    "description": "The replies",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": UNAUTHORIZED,
                "422": INVALID,
            },
        }
    },
    "/v1/inbound/{account}": {
        "post": {**_INBOUND, "operationId": "postInbound", "parameters": [_path("account")]}
    },
    "/v1/inbound/{account}/{secret}": {
        "post": {
            **_INBOUND,
            "operationId": "postInboundWithSecret",
            "parameters": [_path("account"), _path("secret")],
        }
    },
}
