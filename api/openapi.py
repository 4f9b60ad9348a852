"""The OpenAPI 3.1 document of the HTTP API: its components generated from the pydantic models
in api/models.py (and the message from `sms.message.Message`), its paths said here.

Served at `/openapi.json`; tests/test_http_api.py drives every operation from it (schemathesis)
and checks each answer against it, so a handler and its description cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from api.messages import DEFAULT_LANE
from api.models import COMPONENTS, SET_BY_SALVO
from api.uploads import CSV_TYPES, FILE_PART, JSONL_TYPES, MULTIPART
from sms.campaigns import ID_PATTERN
from sms.message import Message, Status

JSON = "application/json"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _answer(description: str, schema: str, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


def _schemas() -> dict[str, Any]:
    """The components' schemas: every answer model, and the message a request sends."""
    models = [(m, "serialization") for m in COMPONENTS] + [(Message, "validation")]
    _, found = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = found["$defs"]
    message = copy.deepcopy(schemas.pop("Message"))
    message["title"] = "MessageIn"
    message["description"] = "One message to one recipient through one provider account."
    for name in SET_BY_SALVO:
        message["properties"].pop(name, None)
    message["properties"]["lane"]["default"] = DEFAULT_LANE
    schemas["MessageIn"] = message
    return schemas


SCHEMAS = _schemas()
#: The message a request sends, as the document says it (tests read its limits).
MESSAGE_IN: dict[str, Any] = SCHEMAS["MessageIn"]

ERROR = _answer("An error, said in words", "Error")
INVALID = _answer("Validation failed: every problem with its field and reason", "Invalid")
UNAUTHORIZED = _answer("No API key, or an unknown one", "Error")
TOO_LARGE = _answer("The body is larger than the configured limit", "Error")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": schema.pop("required", False),
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _path(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", **schema}}


OUR_ID = _query("m", "our message id, as JustCall's per-message webhook_url carries it")
RECEIPT_OPERATION: dict[str, Any] = {
    "summary": "A provider's delivery receipt, in that provider's own shape",
    "description": (
        "Authenticated by JustCall's x-justcall-signature where the account uses signed "
        "webhooks, otherwise by the account's receipt_secret in the path. Status only moves "
        "forward; a duplicate, late or unmatched receipt is answered 200 and changes nothing. "
        "One whose provider id is not recorded yet is held until the send is recorded."
    ),
    "tags": ["receipts"],
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

FILE_SCHEMA = {"type": "string", "description": "the file's text"}
TAGS = [
    {"name": "messages", "description": "Send messages one by one, read their status"},
    {"name": "campaigns", "description": "Send a file as a campaign; pause, resume, cancel it"},
    {"name": "receipts", "description": "Providers' delivery receipts"},
    {"name": "optouts", "description": "The suppression lists"},
    {"name": "inbound", "description": "Recipients' replies"},
    {"name": "operations", "description": "Health, metrics and this document"},
]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Salvo",
        "version": "1",
        "description": (
            "Bulk SMS and MMS: send messages and campaigns, read their status and history, "
            "receive providers' delivery receipts. Every /v1 path but receipts needs an API key."
        ),
    },
    "tags": TAGS,
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": SCHEMAS,
    },
    "paths": {
        "/v1/messages": {
            "get": {
                "operationId": "listMessages",
                "tags": ["messages"],
                "summary": "A campaign's messages in row order (as /v1/campaigns/{id}/messages)",
                "security": SECURED,
                "parameters": [
                    _query("campaign", "the campaign id", required=True),
                    _query(
                        "status", "only messages in this status", enum=[s.value for s in Status]
                    ),
                    _query("cursor", "the `next` of the page before", pattern="^[0-9]{1,12}$"),
                    _query("limit", "at most this many (1 to 1000)", pattern="^[0-9]{1,4}$"),
                ],
                "responses": {
                    "200": _answer("One page", "MessagePage"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                    "422": INVALID,
                },
            },
            "post": {
                "operationId": "sendMessages",
                "tags": ["messages"],
                "summary": "Send one message or a list of them",
                "description": (
                    "A repeated idempotency key with the same message answers the earlier "
                    "message's id and sends nothing (`repeat`); with a different message it is "
                    "a 409 naming the message that holds the key."
                ),
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
                    "202": _answer("Enqueued (or repeats of messages enqueued before)", "Accepted"),
                    "400": _answer("The body is not JSON", "Error"),
                    "401": UNAUTHORIZED,
                    "409": _answer(
                        "An idempotency key already names a message with different content",
                        "IdempotencyConflict",
                    ),
                    "413": TOO_LARGE,
                    "422": INVALID,
                },
            },
        },
        "/v1/messages/{id}": {
            "get": {
                "operationId": "getMessage",
                "tags": ["messages"],
                "summary": "A message's status, attempts and status history",
                "security": SECURED,
                "parameters": [_path("id")],
                "responses": {
                    "200": _answer("The message's record", "Record"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                },
            },
            "delete": {
                "operationId": "cancelMessage",
                "tags": ["messages"],
                "summary": "Cancel a message not yet sent",
                "security": SECURED,
                "parameters": [_path("id")],
                "responses": {
                    "200": _answer("Cancelled: the message's record", "Record"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                    "409": _answer("Too late: the error names its status", "Error"),
                },
            },
            "patch": {
                "operationId": "moveMessage",
                "tags": ["messages"],
                "summary": "Move a queued message's send_at and/or expires_at",
                "security": SECURED,
                "parameters": [_path("id")],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("MessageTimes")}},
                },
                "responses": {
                    "200": _answer("Moved: the message's record", "Record"),
                    "400": ERROR,
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                    "409": _answer("Too late: the error names its status", "Error"),
                    "413": TOO_LARGE,
                    "422": INVALID,
                },
            },
        },
        "/v1/campaigns": {
            "get": {
                "operationId": "listCampaigns",
                "tags": ["campaigns"],
                "summary": "Campaigns, newest first, a page at a time",
                "security": SECURED,
                "parameters": [
                    _query(
                        "cursor",
                        "the `next` of the page before",
                        pattern="^[0-9]{1,12}(\\.[0-9]{1,9})?$",
                    ),
                    _query(
                        "limit", "at most this many (1 to 1000, default 50)", pattern="^[0-9]{1,4}$"
                    ),
                ],
                "responses": {
                    "200": _answer("One page", "CampaignList"),
                    "401": UNAUTHORIZED,
                    "422": INVALID,
                },
            },
            "post": {
                "operationId": "createCampaign",
                "tags": ["campaigns"],
                "summary": "A campaign from a CSV or JSONL upload, streamed",
                "description": (
                    "The file is the body (a CSV type or a JSONL type), or the part named "
                    f"`{FILE_PART}` of a {MULTIPART} body (`curl -F {FILE_PART}=@people.csv`); "
                    "any other content type is refused with 415. A CSV has a header line and "
                    "a `phone` column, JSONL one object per line with a `phone` key; other "
                    "columns or keys fill the template's {fields}. Without a campaign id, the "
                    "id is derived from the file and the parameters, as `salvo blast` derives "
                    "it, so the same file sent again through either sends nothing twice. The "
                    "answer comes once the file is stored (202 with the campaign's URL): the "
                    "API reads it in the background, and `GET /v1/campaigns/{id}` shows its "
                    "`ingest` (rows read, enqueued, rejected...). A header the blast cannot "
                    "use is a 422 at once. `wait=true` answers when every row is read, with "
                    "the counts, as `dry_run=true` does. A multipart body may carry the "
                    "parameters as form fields before its file part instead of in the query "
                    "string (one given both ways is a 422)."
                ),
                "security": SECURED,
                "parameters": [
                    _query("account", "provider account name", required=True, minLength=1),
                    _query("from", "sender number or short code", required=True, minLength=1),
                    _query(
                        "template", "message text with {column} fields", required=True, minLength=1
                    ),
                    _query(
                        "format", "default: from the content type, else csv", enum=["csv", "jsonl"]
                    ),
                    _query(
                        "campaign",
                        "campaign id (default: derived from the file and the parameters)",
                        pattern=ID_PATTERN,
                    ),
                    _query("key_column", "column whose value keys each row (default phone)"),
                    _query("phone_column", "the column of numbers (default: phone, any case)"),
                    _query("lane", "default bulk", enum=["transactional", "bulk"]),
                    _query("send_at", "send at this time", format="date-time"),
                    _query("expires_at", "never send after this time", format="date-time"),
                    _query(
                        "callback_url",
                        "http(s) URL for its messages' status changes and campaign.finished",
                    ),
                    _query(
                        "wait",
                        "true: answer once every row is read, with the counts (default false: "
                        "answer once the file is stored)",
                        enum=["true", "false"],
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        **{media: {"schema": FILE_SCHEMA} for media in (*CSV_TYPES, *JSONL_TYPES)},
                        MULTIPART: {
                            "schema": {
                                "type": "object",
                                "required": [FILE_PART],
                                "properties": {
                                    FILE_PART: {
                                        "type": "string",
                                        "contentMediaType": "text/csv",
                                        "description": "the file (.jsonl or .ndjson: JSONL)",
                                    }
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "200": _answer("dry_run=true: what the blast would do", "Preflight"),
                    "202": {
                        "description": (
                            "Stored, to be read in the background (Upload; follow it at "
                            "`Location`), or with wait=true read: counts of rows, repeats and "
                            "rejects (Blast)"
                        ),
                        "headers": {
                            "Location": {
                                "description": "the campaign's URL (not with wait=true)",
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {JSON: {"schema": {"oneOf": [_ref("Upload"), _ref("Blast")]}}},
                    },
                    "409": _answer(
                        "Another upload of this campaign is being read, or it is cancelled",
                        "Error",
                    ),
                    "401": UNAUTHORIZED,
                    "408": _answer("The upload stalled", "Error"),
                    "413": TOO_LARGE,
                    "415": _answer("Not sent as a file: how to send one", "Error"),
                    "422": INVALID,
                    "503": _answer(
                        "Redis out of reach (wait=true: stopped at a line); send again", "Blast"
                    ),
                },
            },
        },
        "/v1/campaigns/{id}": {
            "get": {
                "operationId": "getCampaign",
                "tags": ["campaigns"],
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
        "/v1/campaigns/{id}/messages": {
            "get": {
                "operationId": "listCampaignMessages",
                "tags": ["campaigns"],
                "summary": "A campaign's messages in the order of its input rows, a page at a time",
                "security": SECURED,
                "parameters": [
                    _path("id"),
                    _query(
                        "status", "only messages in this status", enum=[s.value for s in Status]
                    ),
                    _query("cursor", "the `next` of the page before", pattern="^[0-9]{1,12}$"),
                    _query(
                        "limit",
                        "at most this many (1 to 1000, default 100)",
                        pattern="^[0-9]{1,4}$",
                    ),
                ],
                "responses": {
                    "200": _answer("One page", "MessagePage"),
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                    "422": INVALID,
                },
            }
        },
        "/v1/campaigns/{id}/rejects": {
            "get": {
                "operationId": "getCampaignRejects",
                "tags": ["campaigns"],
                "summary": "Every rejected row of a campaign: a rejects file to fix and send again",
                "description": (
                    "CSV (default): the header `line,reason` and the campaign's own columns, "
                    "then each rejected row's line, reason and fields as they were read. "
                    "JSONL: one object per rejected row, its own keys (a CSV row's fields by "
                    "column) with `line` and `reason`; a row that cannot be read so is under "
                    "`row`. In the order of the lines, streamed."
                ),
                "security": SECURED,
                "parameters": [
                    _path("id"),
                    _query("format", "csv (default) or jsonl", enum=["csv", "jsonl"]),
                ],
                "responses": {
                    "200": {
                        "description": "The rejects file",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "401": UNAUTHORIZED,
                    "404": ERROR,
                    "422": INVALID,
                },
            }
        },
        **{
            f"/v1/campaigns/{{id}}/{action}": {
                "post": {
                    "operationId": f"{action}Campaign",
                    "tags": ["campaigns"],
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
            "post": {
                **RECEIPT_OPERATION,
                "operationId": "postReceipt",
                "parameters": [_path("account"), OUR_ID],
            }
        },
        "/v1/receipts/{account}/{secret}": {
            "post": {
                **RECEIPT_OPERATION,
                "operationId": "postReceiptWithSecret",
                "parameters": [_path("account"), _path("secret"), OUR_ID],
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "tags": ["operations"],
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
                "operationId": "metrics",
                "tags": ["operations"],
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
                "operationId": "openapi",
                "tags": ["operations"],
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
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


def _nullable_to_3_1(node: Any) -> None:
    """OpenAPI 3.0's `nullable: true` written the 3.1 way (a type list with "null")."""
    if isinstance(node, dict):
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _nullable_to_3_1(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_to_3_1(value)


_nullable_to_3_1(DOCUMENT)


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document."""
    return web.json_response(DOCUMENT)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/openapi.json", openapi)
