"""The HTTP API as its callers see it: a real `salvo api` process on the real embedded server.

The API here works on database 1, where no worker looks: what it enqueues stays queued, so these
tests see exactly what the API wrote. Delivery (workers, sandbox, receipts) is test_receipts.py.
"""

from __future__ import annotations

import csv
import http.client
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import hypothesis
import pytest
import redis
import schemathesis
from prometheus_client.parser import text_string_to_metric_families

from api.openapi import DOCUMENT
from salvo.local import ApiServer, api_process, sandbox_accounts, write_config
from sms import keys
from tests.api_client import Api

KEY = "test-key-" + uuid.uuid4().hex
OTHER_KEY = "other-key-" + uuid.uuid4().hex
MAX_BODY = 64 * 1024
MAX_UPLOAD = 128 * 1024 * 1024
CARRIERX = "+14155550101"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, unit_url: str, sandbox_url: str
) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("api")
    providers = sandbox_accounts(sandbox_url, receipt_secret="not-used-here")
    config = write_config(
        tmp / "salvo.toml",
        unit_url,
        providers,
        api_keys=[KEY, OTHER_KEY],
        api_max_body=MAX_BODY,
        api_max_upload=MAX_UPLOAD,
    )
    with api_process(config, tmp / "api.log") as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Api:
    return Api(server.url, KEY)


def message(**kw: Any) -> dict[str, Any]:
    return {
        "account": "carrierx",
        "to": "+12025550123",
        "from": CARRIERX,
        "body": "Your appointment",
        **kw,
    }


def test_a_request_without_a_key_is_refused(server: ApiServer) -> None:
    status, body = Api(server.url).post("/v1/messages", message())
    assert status == 401
    assert body == {"error": "missing API key"}


def test_a_request_with_a_wrong_key_is_refused(server: ApiServer) -> None:
    for headers in ({"Authorization": f"Bearer {KEY}x"}, {"X-API-Key": "nope"}):
        status, _ = Api(server.url).call("GET", "/v1/messages/x", headers=headers)
        assert status == 401


def test_every_configured_key_works_in_either_header(server: ApiServer) -> None:
    for headers in ({"Authorization": f"Bearer {OTHER_KEY}"}, {"X-API-Key": KEY}):
        status, _ = Api(server.url).call("GET", "/v1/messages/none", headers=headers)
        assert status == 404


def test_a_message_is_accepted_and_its_record_shows_its_history(api: Api, r: redis.Redis) -> None:
    status, body = api.post("/v1/messages", message())
    assert status == 202
    (mid,) = body["ids"]
    status, record = api.get(f"/v1/messages/{mid}")
    assert status == 200
    assert record["status"] == "queued"
    assert [h["status"] for h in record["history"]] == ["queued"]
    assert r.hget(keys.message(mid), "lane") == "transactional"


def test_a_queued_message_is_moved_and_cancelled_then_too_late(api: Api, r: redis.Redis) -> None:
    status, body = api.post("/v1/messages", message(send_at="2099-01-01T09:00:00+00:00"))
    (mid,) = body["ids"]
    status, record = api.get(f"/v1/messages/{mid}")
    assert record["send_at"] == "2099-01-01T09:00:00.000+00:00"
    assert record["waiting_for"].startswith("its send_at")
    change = json.dumps({"send_at": "2098-01-01T09:00:00Z", "expires_at": "2098-01-02T00:00:00Z"})
    status, record = api.call("PATCH", f"/v1/messages/{mid}", change.encode())
    assert status == 200
    assert (record["send_at"], record["expires_at"]) == (
        "2098-01-01T09:00:00.000+00:00",
        "2098-01-02T00:00:00.000+00:00",
    )
    assert r.zscore(keys.ready("carrierx", "transactional"), mid) == 4_039_405_200
    status, body = api.call("PATCH", f"/v1/messages/{mid}", b'{"to": "+12025550199"}')
    assert (status, body["errors"][0]["field"]) == (422, "to")
    status, record = api.call("DELETE", f"/v1/messages/{mid}")
    assert (status, record["status"]) == (200, "cancelled")
    assert r.zscore(keys.ready("carrierx", "transactional"), mid) is None
    status, body = api.call("DELETE", f"/v1/messages/{mid}")
    assert status == 409
    assert body == {"error": f"message {mid} is already cancelled"}
    status, body = api.call("PATCH", f"/v1/messages/{mid}", change.encode())
    assert status == 409
    assert api.call("DELETE", "/v1/messages/nothing")[0] == 404


@pytest.mark.parametrize(
    ("times", "field", "reason"),
    [
        (
            {"send_at": "2099-01-02T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z"},
            "expires_at",
            "must be after send_at",
        ),
        ({"send_at": "2099-01-01T00:00:00"}, "send_at", "a time needs an offset (+00:00)"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at", "a time needs an offset (+00:00)"),
    ],
)
def test_times_are_held_to_the_rules_of_a_move(
    api: Api, times: dict[str, str], field: str, reason: str
) -> None:
    # The same times PATCH refuses are refused for a new message and for a campaign upload.
    status, body = api.post("/v1/messages", message(**times))
    assert (status, body) == (422, {"errors": [{"index": 0, "field": field, "reason": reason}]})
    status, body = upload(api, b"phone,name\n+12025550100,Ann\n", **times)
    assert (status, body) == (422, {"errors": [{"field": field, "reason": reason}]})


def test_an_unknown_field_is_named_in_the_same_words_everywhere(api: Api) -> None:
    status, body = api.post("/v1/messages", message(options={"colour": "red"}))
    assert (status, body["errors"]) == (
        422,
        [{"index": 0, "field": "options.colour", "reason": "not a known field"}],
    )
    status, body = api.call("PATCH", "/v1/messages/any", b'{"sent_at": null}')
    assert (status, body["errors"]) == (422, [{"field": "sent_at", "reason": "not a known field"}])
    optout = {"account": "carrierx", "phones": ["+12025550177"], "reason": "asked"}
    status, body = api.post("/v1/optouts", optout)
    assert (status, body["errors"]) == (422, [{"field": "reason", "reason": "not a known field"}])
    status, body = upload(api, b"phone,name\n+12025550100,Ann\n", colour="red")
    assert (status, body["errors"]) == (
        422,
        [{"field": "colour", "reason": "not a known parameter"}],
    )


def test_an_upload_names_its_column_of_numbers_with_phone_column(api: Api) -> None:
    data = f"mobile,name\n+1202555{uuid.uuid4().int % 10_000:04d},Ann\n".encode()
    status, body = upload(api, data)
    assert status == 422
    (refused,) = body["errors"]
    assert refused["field"] == "file"
    assert "no 'phone' column (columns: mobile, name)" in refused["reason"]
    assert refused["reason"].endswith("name the column of numbers with phone_column")
    status, body = upload(api, data, phone_column="mobile")
    assert (status, body["rows"], body["enqueued"]) == (202, 1, 1), body


@pytest.mark.parametrize("cursor", [" 5", "1_000", "1e400", "inf", "-1", "0x10"])
def test_a_campaign_list_cursor_that_no_page_gave_is_a_422(api: Api, cursor: str) -> None:
    status, body = api.get("/v1/campaigns?" + urllib.parse.urlencode({"cursor": cursor}))
    assert (status, body["errors"][0]["field"]) == (422, "cursor")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/campaigns?stauts=failed",
        "/v1/campaigns/nope/messages?stauts=failed",
        "/v1/messages?campaign=nope&stauts=failed",
        "/v1/campaigns/nope/rejects?stauts=failed",
        "/v1/inbound?stauts=failed",
    ],
)
def test_a_misspelt_filter_is_refused_not_ignored(api: Api, path: str) -> None:
    """A listing that ignored `stauts` would answer every message as if they were the failed
    ones: a 422 names it, as an unknown field of a body is named, and the limit is said alike."""
    status, body = api.get(path)
    assert (status, body) == (
        422,
        {"errors": [{"field": "stauts", "reason": "not a known parameter"}]},
    )
    for optouts in ("/v1/optouts", "/v1/optouts/export", "/v1/optouts/%2B12025550100"):
        status, body = api.get(f"{optouts}?account=carrierx&stauts=failed")
        assert (status, body["errors"]) == (
            422,
            [{"field": "stauts", "reason": "not a known parameter"}],
        ), optouts
    status, body = api.get("/v1/optouts?account=carrierx&limit=10001")
    assert body["errors"] == [{"field": "limit", "reason": "a whole number from 1 to 10000"}]
    for listing in ("/v1/campaigns", "/v1/inbound", "/v1/messages?campaign=nope&"):
        joiner = "" if listing.endswith("&") else "?"
        status, body = api.get(f"{listing}{joiner}limit=0")
        assert (status, body["errors"]) == (
            422,
            [{"field": "limit", "reason": "a whole number from 1 to 1000"}],
        )


def test_replies_of_an_unknown_account_name_the_known_ones(api: Api) -> None:
    status, body = api.get("/v1/inbound?account=nope")
    assert status == 422
    assert body["errors"][0]["reason"].startswith("unknown provider account 'nope' (known: ")
    for limit in (" 5", "1_0"):
        status, body = api.get("/v1/inbound?" + urllib.parse.urlencode({"limit": limit}))
        assert (status, body["errors"][0]["field"]) == (422, "limit")


def test_the_same_idempotency_key_header_returns_the_same_id_as_a_repeat(api: Api) -> None:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post("/v1/messages", message(), headers)
    second = api.post("/v1/messages", message(), headers)
    assert first[0] == second[0] == 202
    assert first[1]["ids"] == second[1]["ids"]
    assert (first[1]["repeat"], second[1]["repeat"]) == (False, True)


def test_the_same_key_with_a_different_message_is_a_conflict(api: Api, r: redis.Redis) -> None:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    (mid,) = api.post("/v1/messages", message(), headers)[1]["ids"]
    status, body = api.post("/v1/messages", message(body="changed"), headers)
    assert status == 409
    assert mid in body["error"]
    assert body["conflicts"] == [
        {"index": 0, "idempotency_key": headers["Idempotency-Key"], "existing": mid}
    ]
    assert r.hget(keys.message(mid), "data") is not None
    assert "changed" not in (r.hget(keys.message(mid), "data") or "")


def test_a_list_under_one_key_header_is_keyed_per_message(api: Api) -> None:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    batch = [message(to="+12025550124"), message(to="+12025550125")]
    first = api.post("/v1/messages", batch, headers)[1]["ids"]
    again = api.post("/v1/messages", batch, headers)[1]["ids"]
    assert len(set(first)) == 2
    assert again == first
    assert api.post("/v1/messages", batch, headers)[1]["repeats"] == [0, 1]


def test_validation_errors_name_each_message_and_field(api: Api, r: redis.Redis) -> None:
    before = r.llen("transactional")
    batch = [message(), message(to="12", lane="fast"), message(account="nope", colour="red")]
    status, body = api.post("/v1/messages", batch)
    assert status == 422
    found = {(e["index"], e["field"]) for e in body["errors"]}
    assert {(1, "to"), (1, "lane"), (2, "colour"), (2, "account")} <= found
    assert all(e["reason"] for e in body["errors"])
    assert r.llen("transactional") == before  # nothing of the batch was enqueued


def test_provider_limits_are_validation_errors_too(api: Api) -> None:
    status, body = api.post("/v1/messages", message(account="justcall", body=""))
    assert status == 422
    assert body["errors"] == [
        {"index": 0, "field": "body", "reason": "empty; JustCall requires a body, even with media"}
    ]


def test_a_body_that_is_not_json_is_a_bad_request(api: Api) -> None:
    status, body = api.call("POST", "/v1/messages", b"{nope")
    assert status == 400
    assert "not valid JSON" in body["error"]


def test_a_json_body_over_the_limit_is_refused(api: Api) -> None:
    status, body = api.post("/v1/messages", message(body="x" * MAX_BODY))
    assert status == 413
    assert "error" in body


def test_an_unknown_message_is_not_found(api: Api) -> None:
    assert api.get(f"/v1/messages/{uuid.uuid4().hex}")[0] == 404


def upload(
    api: Api, data: bytes | IO[bytes], content_type: str = "text/csv", **params: str
) -> tuple[int, Any]:
    query = {"account": "carrierx", "from": CARRIERX, "template": "Hi {name}", "wait": "true"}
    query.update(params)
    path = "/v1/campaigns?" + urllib.parse.urlencode(query)
    return api.call("POST", path, data, {"Content-Type": content_type})


def test_a_csv_upload_becomes_a_campaign_and_reports_rejected_rows(api: Api) -> None:
    data = b"phone,name\n+12025550100,Ann\nnot a number,Bob\n+12025550101,Cy\n+12025550102\n"
    status, body = upload(api, data, campaign=f"t{uuid.uuid4().hex[:12]}")
    assert status == 202
    assert (body["rows"], body["enqueued"], body["rejected"]) == (4, 2, 2)
    assert [r["line"] for r in body["rejects"]] == [3, 5]
    status, campaign = api.get(f"/v1/campaigns/{body['campaign']}")
    assert status == 200
    assert campaign["counts"] == {"queued": 2, "total": 2}
    assert campaign["rejected"] == 2
    status, page = api.get(f"/v1/campaigns/{body['campaign']}/messages?limit=1")
    assert status == 200
    assert [(m["line"], m["to"]) for m in page["messages"]] == [(2, "+12025550100")]
    status, page = api.get(f"/v1/campaigns/{body['campaign']}/messages?cursor={page['next']}")
    assert [(m["line"], m["to"]) for m in page["messages"]] == [(4, "+12025550101")]
    assert page["next"] is None
    status, page = api.get(f"/v1/campaigns/{body['campaign']}/messages?status=nope")
    assert (status, page["errors"][0]["field"]) == (422, "status")
    # The words of `salvo export --status nope` (tests/test_results.py): one vocabulary.
    assert page["errors"][0]["reason"].startswith("'nope' is not one of queued, sending, ")
    status, same = api.get(f"/v1/messages?campaign={body['campaign']}&limit=1")
    assert (status, [m["line"] for m in same["messages"]]) == (200, [2])
    status, listed = api.get("/v1/campaigns?limit=1")
    assert status == 200
    assert [c["id"] for c in listed["campaigns"]] == [body["campaign"]]


def test_a_jsonl_upload_becomes_a_campaign(api: Api) -> None:
    lines = [
        {"phone": "+12025550100", "name": "Ann"},
        {"phone": "+12025550101"},
        "oops",
        {"phone": "+12025550102", "name": 7},
    ]
    data = b"\n".join(json.dumps(x).encode() if x != "oops" else b"{oops" for x in lines) + b"\n"
    status, body = upload(api, data, "application/x-ndjson")
    assert status == 202
    assert (body["rows"], body["enqueued"], body["rejected"]) == (4, 2, 2)
    assert [(r["line"], r["reason"].split(":")[0]) for r in body["rejects"]] == [
        (2, "template"),
        (3, "malformed JSON"),
    ]
    # The same file again: the default campaign id comes from its content, so nothing is sent twice.
    status, again = upload(api, data, "application/x-ndjson")
    assert (again["campaign"], again["enqueued"], again["duplicates"]) == (body["campaign"], 0, 2)


def multipart(data: bytes, filename: str = "people.csv", name: str = "file") -> tuple[bytes, str]:
    """A multipart/form-data body with one file part, as `curl -F file=@people.csv` sends."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_multipart_upload_is_read_like_the_file_itself(api: Api) -> None:
    data = b"phone,name\n+12025550100,Ann\n+12025550101,Bob\n"
    body, ctype = multipart(data)
    status, answer = upload(api, body, ctype)
    assert status == 202, answer
    assert (answer["rows"], answer["enqueued"]) == (2, 2)
    # The same file as the body itself is the same campaign: nothing is sent twice.
    status, again = upload(api, data, "text/csv")
    assert (again["campaign"], again["enqueued"], again["duplicates"]) == (answer["campaign"], 0, 2)
    lines = b'{"phone": "+12025550102", "name": "Cy"}\n'
    status, answer = upload(api, *multipart(lines, filename="people.jsonl"))
    assert (status, answer["enqueued"]) == (202, 1)


def form(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields, then the file: what `curl -F account=... -F
    file=@people.csv` sends."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="people.csv"'
        "\r\nContent-Type: text/csv\r\n\r\n"
    )
    body = "".join(parts).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_an_upload_takes_its_parameters_as_form_fields_too(api: Api) -> None:
    data = b"phone,name\n+12025550140,Ann\n+12025550141,Bob\n"
    fields = {"account": "carrierx", "from": CARRIERX, "template": "Hi {name}", "wait": "true"}
    status, answer = api.call("POST", "/v1/campaigns", *_as_body(form(fields, data)))
    assert status == 202, answer
    assert (answer["rows"], answer["enqueued"]) == (2, 2)
    # The same parameters from the query string: the same campaign, nothing sent twice.
    status, again = upload(api, data, "text/csv")
    assert (again["campaign"], again["enqueued"], again["duplicates"]) == (answer["campaign"], 0, 2)
    # Given twice, or too long: a 422 naming the field, nothing read.
    status, answer = upload(api, *form({"account": "carrierx"}, data))
    assert (status, answer["errors"]) == (
        422,
        [{"field": "account", "reason": "given twice (query string and form fields)"}],
    )
    status, answer = upload(api, *form({"note": "x"}, data))
    assert (status, answer["errors"]) == (
        422,
        [{"field": "note", "reason": "not a known parameter"}],
    )
    status, answer = upload(api, *form({"campaign": "c" * 70_000}, data))
    assert (status, answer["errors"][0]["field"]) == (422, "campaign")
    assert answer["errors"][0]["reason"] == "a form field of more than 65,536 bytes"


def _as_body(made: tuple[bytes, str]) -> tuple[bytes, dict[str, str]]:
    body, ctype = made
    return body, {"Content-Type": ctype}


def test_an_upload_not_sent_as_a_file_is_refused_saying_how(api: Api) -> None:
    form = b"phone%2Cname%0A%2B12025550100%2CAnn"
    for body, ctype in (
        (form, "application/x-www-form-urlencoded"),
        (b"phone\n+12025550100\n", "application/octet-stream"),
        multipart(b"phone\n+12025550100\n", name="upload"),
    ):
        status, answer = upload(api, body, ctype)
        assert status == 415, answer
        assert "multipart/form-data with a part named 'file'" in answer["error"]


def test_the_document_is_openapi_3_1_with_ids_tags_and_enums() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    operations = [op for item in DOCUMENT["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(set(ids)) == len(ids) == len(operations)
    assert all(op.get("tags") for op in operations)
    schemas = DOCUMENT["components"]["schemas"]
    assert set(schemas["Status"]["enum"]) >= {"queued", "sent", "delivered", "cancelled"}
    assert schemas["CampaignState"]["enum"] == [
        "scheduled",
        "running",
        "finished",
        "paused",
        "cancelled",
    ]
    assert schemas["Record"]["properties"]["status"] == {"$ref": "#/components/schemas/Status"}
    assert "id" not in schemas["MessageIn"]["properties"]
    assert (
        "multipart/form-data"
        in DOCUMENT["paths"]["/v1/campaigns"]["post"]["requestBody"]["content"]
    )


def test_bad_campaign_parameters_are_named(api: Api) -> None:
    status, body = upload(api, b"phone\n", account="nope", template="Hi {x.y}", lane="slow")
    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"account", "template", "lane"}
    status, body = upload(api, b"number,name\n1,2\n")
    assert status == 422
    assert body["errors"][0]["field"] == "file"
    assert "no 'phone' column" in body["errors"][0]["reason"]


def test_a_campaign_is_paused_resumed_and_cancelled(api: Api, server: ApiServer) -> None:
    status, body = upload(api, b"phone,name\n+12025550100,Ann\n", campaign=f"c{uuid.uuid4().hex}")
    assert status == 202
    cid = body["campaign"]
    expected = [
        ("pause", "running", "paused"),
        ("resume", "paused", "running"),
        ("cancel", "running", "cancelled"),
    ]
    for action, previous, state in expected:
        status, answer = api.post(f"/v1/campaigns/{cid}/{action}", None)
        assert status == 200, answer
        assert (answer["campaign"], answer["previous"], answer["state"]) == (cid, previous, state)
    assert api.get(f"/v1/campaigns/{cid}")[1]["state"] == "cancelled"
    status, answer = api.post(f"/v1/campaigns/{cid}/resume", None)
    assert status == 409
    assert "cancelled" in answer["error"]
    assert api.post("/v1/campaigns/no-such-campaign/pause", None)[0] == 404
    assert Api(server.url).post(f"/v1/campaigns/{cid}/pause", None)[0] == 401


def test_an_upload_over_the_limit_is_refused_before_it_is_read(server: ApiServer) -> None:
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    query = urllib.parse.urlencode({"account": "carrierx", "from": CARRIERX, "template": "Hi"})
    conn.putrequest("POST", f"/v1/campaigns?{query}")
    conn.putheader("Authorization", f"Bearer {KEY}")
    conn.putheader("Content-Type", "text/csv")
    conn.putheader("Content-Length", str(MAX_UPLOAD + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def write_rows(path: Path, rows: int) -> Path:
    note = "n" * 200  # wide rows, so holding the upload in memory would show
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "name", "note", "k"])
        for _ in range(rows):
            w.writerow(["+13122000000", "Pat", note, "same"])
    return path


def test_a_large_upload_is_streamed_with_flat_memory(
    api: Api, server: ApiServer, tmp_path: Path
) -> None:
    # Every row is the same message under the same key, so one is enqueued and the rest are
    # repeats: the whole path (parse, render, validate, record) runs for every row without
    # filling Redis.
    small = write_rows(tmp_path / "small.csv", 2_000)
    large = write_rows(tmp_path / "large.csv", 200_000)
    assert large.stat().st_size > 40 * 1024 * 1024
    status, body = upload(
        api, small.read_bytes(), campaign=f"s{uuid.uuid4().hex[:12]}", key_column="k"
    )
    assert (status, body["rows"]) == (202, 2_000)
    before = peak_rss_kib(server.pid)
    with large.open("rb") as fh:
        status, body = upload(api, fh, campaign=f"l{uuid.uuid4().hex[:12]}", key_column="k")
    assert status == 202, body
    assert (body["rows"], body["enqueued"], body["duplicates"]) == (200_000, 1, 199_999)
    grown = peak_rss_kib(server.pid) - before
    assert grown < 20 * 1024, f"peak RSS grew {grown} KiB for a {large.stat().st_size} byte upload"


def test_metrics_are_prometheus_text(server: ApiServer, api: Api) -> None:
    api.post("/v1/messages", message())
    status, text = Api(server.url).get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {
        "salvo_messages",
        "salvo_provider_answers",
        "salvo_retries",
        "salvo_send_latency_seconds",
        "salvo_queue_depth",
        "salvo_waiting",
        "salvo_accept_wait_seconds",
    } <= set(families)
    queued = [
        s
        for s in families["salvo_messages"].samples
        if s.labels == {"account": "carrierx", "status": "queued"}
    ]
    assert queued and queued[0].value >= 1
    lanes = {s.labels["lane"] for s in families["salvo_queue_depth"].samples}
    assert lanes == {"transactional", "bulk"}
    # No worker meters this server's database: the message waits in its account's ready queue.
    waiting = {
        (s.labels["account"], s.labels["lane"]): s.value for s in families["salvo_waiting"].samples
    }
    assert waiting[("carrierx", "transactional")] >= 1


def test_health_says_no_worker_is_seen_here(server: ApiServer) -> None:
    status, body = Api(server.url).get("/healthz")
    assert status == 503
    assert body["redis"] is True
    assert body["workers"] == 0
    assert body["problems"] == ["no worker seen in the last 30 s"]


# The OpenAPI-driven test: every operation of the served document, with generated requests,
# against the running server; no 5xx, and every answer as the document describes it.
schemathesis.serializer.alias(
    [
        "text/csv",
        "application/csv",
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
    ],
    "text/plain",
)
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_does_what_its_openapi_document_says(
    method: str, path: str, server: ApiServer
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {KEY}"}
    # /healthz answers a documented 503 here (no worker looks at this database): not a fault.
    checks = CHECKS[1:] if path == "/healthz" else CHECKS

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(base_url=server.url, headers=headers, checks=checks)

    call()


def test_the_document_is_served_and_names_every_route(server: ApiServer) -> None:
    status, doc = Api(server.url).get("/openapi.json")
    assert status == 200
    assert set(doc["paths"]) == {
        "/v1/messages",
        "/v1/messages/{id}",
        "/v1/campaigns",
        "/v1/campaigns/{id}",
        "/v1/campaigns/{id}/messages",
        "/v1/campaigns/{id}/rejects",
        "/v1/campaigns/{id}/pause",
        "/v1/campaigns/{id}/resume",
        "/v1/campaigns/{id}/cancel",
        "/v1/receipts/{account}",
        "/v1/receipts/{account}/{secret}",
        "/v1/optouts",
        "/v1/optouts/import",
        "/v1/optouts/export",
        "/v1/optouts/{phone}",
        "/v1/inbound",
        "/v1/inbound/{account}",
        "/v1/inbound/{account}/{secret}",
        "/healthz",
        "/metrics",
        "/openapi.json",
    }
