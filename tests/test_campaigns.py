"""A campaign is one thing whichever door it comes through: the same file sent with the CLI, over
HTTP or from Python is the same campaign and sends each row once; every door applies the same
id rule; and its state changes in one place (sms/campaigns.py).

Everything here works on database 1, where no worker looks: what is enqueued stays queued.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.api import Producer, build_message
from producer.campaign import BlastSpec, blast
from salvo.local import api_process, sandbox_accounts, write_config
from sms import campaigns, keys
from sms.campaigns import CampaignState
from sms.embedded import spawn
from sms.errors import Conflict, InvalidMessage, NotFound
from sms.settings import Settings
from tests.api_client import Api
from tests.conftest import KEY, Doors
from tests.helpers import run_cli

SENDER = "+14155550101"


def people(path: Path, rows: int = 300) -> Path:
    """A CSV of `rows` people, different on every call (so its default campaign is new)."""
    tag = uuid.uuid4().hex[:6]
    lines = ["phone,name"] + [f"+1312{5_000_000 + i:07d},P{tag}{i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def upload(doors: Doors, data: bytes, **params: str) -> tuple[int, Any]:
    query = {"account": "carrierx", "from": SENDER, "template": "Hi {name}", "wait": "true"}
    query.update(params)
    path = "/v1/campaigns?" + urllib.parse.urlencode(query)
    return doors.api.call("POST", path, data, {"Content-Type": "text/csv"})


def cli_blast(doors: Doors, path: Path, *extra: str) -> tuple[int, str, str]:
    done = run_cli(
        doors.config,
        "blast",
        str(path),
        "--account",
        "carrierx",
        "--from",
        "+1 415 555 0101",  # the same sender as the upload's, written another way
        "--template",
        "Hi {name}",
        *extra,
    )
    return done.returncode, done.stdout, done.stderr


def test_the_same_file_through_the_cli_then_http_sends_each_row_once(
    doors: Doors, tmp_path: Path, r: redis.Redis
) -> None:
    path = people(tmp_path / "people.csv")
    code, out, err = cli_blast(doors, path)
    assert code == 0, err
    assert "300 enqueued" in out
    status, body = upload(doors, path.read_bytes())
    assert status == 202, body
    assert (body["rows"], body["enqueued"], body["duplicates"]) == (300, 0, 300)
    assert out.splitlines()[-1].startswith(f"campaign {body['campaign']}:")
    assert r.hget(keys.campaign_counts(str(body["campaign"])), "total") == "300"


def test_the_same_file_over_http_then_from_python_sends_each_row_once(
    doors: Doors, tmp_path: Path, r: redis.Redis
) -> None:
    path = people(tmp_path / "people.csv", rows=20)
    status, body = upload(doors, path.read_bytes())
    assert (status, body["enqueued"]) == (202, 20)
    producer = Producer(Settings.load(doors.config))
    try:
        spec = BlastSpec(account="carrierx", sender=SENDER, template="Hi {name}")
        report = blast(producer, path, spec)
    finally:
        producer.close()
    assert (report.campaign, report.enqueued, report.duplicates) == (body["campaign"], 0, 20)
    assert r.hget(keys.campaign_counts(report.campaign), "total") == "20"


BAD_IDS = ["x:counts", "a b", "", "é", "x" * 101]


@pytest.mark.parametrize("bad", [b for b in BAD_IDS if b])
def test_every_door_refuses_a_campaign_id_outside_the_rule(
    doors: Doors, tmp_path: Path, bad: str
) -> None:
    path = people(tmp_path / "people.csv", rows=1)
    code, _, err = cli_blast(doors, path, "--campaign", bad)
    assert code == 1
    assert "campaign" in err and "no ':'" in " ".join(err.split())
    assert "Traceback" not in err
    status, body = upload(doors, path.read_bytes(), campaign=bad)
    assert status == 422
    assert [e["field"] for e in body["errors"]] == ["campaign"]
    with pytest.raises(InvalidMessage, match="campaign"):
        build_message(account="carrierx", to="+12025550123", sender=SENDER, campaign=bad)
    producer = Producer(Settings.load(doors.config))
    try:
        spec = BlastSpec(account="carrierx", sender=SENDER, template="Hi", campaign=bad)
        with pytest.raises(InvalidMessage, match="no ':'"):
            blast(producer, path, spec)
    finally:
        producer.close()


def test_a_colon_id_cannot_read_another_campaigns_counts(doors: Doors, tmp_path: Path) -> None:
    status, body = upload(doors, people(tmp_path / "p.csv", rows=2).read_bytes())
    assert status == 202
    assert doors.api.get(f"/v1/campaigns/{body['campaign']}:counts")[0] == 404


def test_a_campaign_changes_state_through_one_function(r: redis.Redis) -> None:
    cid = f"t-{uuid.uuid4().hex}"
    campaigns.create(r, cid, account="carrierx", template="Hi", source="test")
    assert campaigns.read(r, cid).state is CampaignState.RUNNING
    change = campaigns.change_state
    assert change(r, cid, CampaignState.PAUSED) is CampaignState.RUNNING
    assert change(r, cid, CampaignState.CANCELLED) is CampaignState.PAUSED
    with pytest.raises(Conflict, match="cancelled"):
        change(r, cid, CampaignState.RUNNING)
    campaign = campaigns.read(r, cid)
    assert campaign.state is CampaignState.CANCELLED
    assert set(campaign.changed) == {"paused", "cancelled"}
    with pytest.raises(NotFound):
        change(r, f"t-{uuid.uuid4().hex}", CampaignState.PAUSED)
    assert r.zscore(keys.CAMPAIGNS, cid) is not None


def test_the_default_id_follows_the_rule() -> None:
    cid = campaigns.default_id("carrierx", SENDER, "Hi {name}", "phone", "0" * 64)
    assert campaigns.is_valid_id(cid) and ":" not in cid


def test_status_of_an_unknown_id_says_so(doors: Doors) -> None:
    done = run_cli(doors.config, "status", "no-such-thing")
    assert done.returncode == 1
    assert "no message or campaign with id 'no-such-thing'" in done.stderr


def test_the_cli_and_http_give_the_same_record_with_iso_times(doors: Doors) -> None:
    sent = run_cli(
        doors.config,
        "send",
        "--account",
        "carrierx",
        "--from",
        SENDER,
        "--to",
        "+12025550123",
        "--body",
        "hi",
    )
    assert sent.returncode == 0, sent.stderr
    mid = sent.stdout.strip()
    shown = run_cli(doors.config, "status", mid, "--json")
    assert shown.returncode == 0, shown.stderr
    status, record = doors.api.get(f"/v1/messages/{mid}")
    assert status == 200
    assert json.loads(shown.stdout) == record
    for when in (record["created"], record["updated"], record["history"][0]["at"]):
        assert datetime.fromisoformat(when).utcoffset() is not None
    assert record["account"] == "carrierx"


def test_the_old_provider_flag_still_names_the_account(doors: Doors) -> None:
    args = ["send", "--from", SENDER, "--to", "+12025550124", "--body", "hi"]
    assert run_cli(doors.config, *args, "--provider", "carrierx").returncode == 0
    missing = run_cli(doors.config, *args)
    assert missing.returncode == 2 and "--account" in missing.stderr
    help_text = run_cli(doors.config, "send", "-h").stdout
    assert "--account" in help_text and "--provider" not in help_text


def test_version_and_short_help(doors: Doors) -> None:
    version = run_cli(doors.config, "--version")
    assert version.returncode == 0 and version.stdout.startswith("salvo, version ")
    assert "Usage: salvo" in run_cli(doors.config, "-h").stdout


def test_a_blast_with_no_row_enqueued_exits_2_with_the_counts_last(
    doors: Doors, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"phone,name\nnot a number,A{uuid.uuid4().hex[:6]}\n12,B\n")
    code, out, err = cli_blast(doors, path)
    assert code == 2, err
    assert out.splitlines()[-1].endswith(
        "2 rows, 0 enqueued, 0 already enqueued, 2 rejected, 0 suppressed (opted out)"
    )


def test_a_blast_under_a_paused_campaign_says_its_messages_wait_for_a_resume(
    doors: Doors, tmp_path: Path
) -> None:
    cid = f"held-{uuid.uuid4().hex[:8]}"
    code, _, err = cli_blast(doors, people(tmp_path / "first.csv", rows=2), "--campaign", cid)
    assert code == 0, err
    assert run_cli(doors.config, "pause", cid).returncode == 0
    more = tmp_path / "more.csv"
    more.write_text("phone,name\n+13125559001,Q\n+13125559002,R\n")  # numbers not in the first
    code, out, err = cli_blast(doors, more, "--campaign", cid)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-2] == f"campaign {cid} is paused: its messages wait until `salvo resume {cid}`"
    assert "2 enqueued" in lines[-1]
    assert run_cli(doors.config, "cancel", cid).returncode == 0


def test_every_door_refuses_to_send_more_under_a_cancelled_campaign(
    doors: Doors, tmp_path: Path
) -> None:
    """Rows sent under a cancelled campaign would only end cancelled, unsent: the CLI, the
    upload (read now or in the background) and Python say so before reading a row."""
    cid = f"gone-{uuid.uuid4().hex[:8]}"
    code, _, err = cli_blast(doors, people(tmp_path / "first.csv", rows=3), "--campaign", cid)
    assert code == 0, err
    done = run_cli(doors.config, "cancel", cid)
    assert done.returncode == 0, done.stderr
    refusal = (
        f"campaign {cid} is cancelled: nothing more is sent under it; "
        "send the file as another campaign"
    )
    more = people(tmp_path / "more.csv", rows=2)
    code, out, err = cli_blast(doors, more, "--campaign", cid)
    assert (code, out) == (1, "")
    assert err.strip() == f"error: {refusal}"
    for wait in ("true", "false"):
        status, answer = upload(doors, more.read_bytes(), campaign=cid, wait=wait)
        assert (status, answer) == (409, {"error": refusal})
    producer = Producer(Settings.load(doors.config))
    try:
        with pytest.raises(Conflict, match="is cancelled"):
            blast(producer, more, BlastSpec("carrierx", SENDER, "Hi {name}", campaign=cid))
    finally:
        producer.close()
    status, campaign = doors.api.get(f"/v1/campaigns/{cid}")
    assert campaign["counts"]["total"] == 3  # not one row of the refused files


def test_a_campaign_is_scheduled_until_its_first_message_is_due(
    doors: Doors, tmp_path: Path, r: redis.Redis
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    path = people(tmp_path / "later.csv", rows=3)
    code, out, err = cli_blast(doors, path, "--at", later.isoformat())
    assert code == 0, err
    cid = out.splitlines()[-1].split()[1].rstrip(":")
    shown = run_cli(doors.config, "status", cid, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["state"] == "scheduled"
    assert run_cli(doors.config, "status", cid).stdout.startswith(f"campaign {cid} (scheduled)")
    status, record = doors.api.get(f"/v1/campaigns/{cid}")
    assert (status, record["state"]) == (200, "scheduled")
    assert datetime.fromisoformat(record["starts"]) == later
    status, listed = doors.api.get("/v1/campaigns?limit=100")
    assert [c["state"] for c in listed["campaigns"] if c["id"] == cid] == ["scheduled"]
    # Once the time comes it is running, with nothing written.
    meta, counts = r.hgetall(keys.campaign(cid)), r.hgetall(keys.campaign_counts(cid))
    after = later.timestamp() + 1
    assert campaigns.Campaign.from_hashes(cid, meta, counts, now=after).state == "running"
    # A pause and a resume keep it scheduled; the control says what it showed.
    paused = run_cli(doors.config, "pause", cid)
    assert f"campaign {cid}: scheduled -> paused" in paused.stdout
    assert run_cli(doors.config, "resume", cid).returncode == 0
    assert doors.api.get(f"/v1/campaigns/{cid}")[1]["state"] == "scheduled"
    # One message moved to now: the campaign's first message is due, so it runs.
    mid = r.zrange(keys.campaign_rows(cid), 0, 0)[0]
    moved = run_cli(doors.config, "move", mid, "--at", "now")
    assert moved.returncode == 0, moved.stderr
    assert doors.api.get(f"/v1/campaigns/{cid}")[1]["state"] == "running"
    # A blast due now is running at once.
    code, out, err = cli_blast(doors, people(tmp_path / "now.csv", rows=1))
    now_id = out.splitlines()[-1].split()[1].rstrip(":")
    assert doors.api.get(f"/v1/campaigns/{now_id}")[1]["state"] == "running"
    # Finished once its file is read and nothing is queued or sending.
    meta, counts = r.hgetall(keys.campaign(now_id)), r.hgetall(keys.campaign_counts(now_id))
    assert meta["ingest"] == "done" and counts["queued"] == "1"
    ended = {**counts, "queued": "0", "sent": "1"}
    assert campaigns.Campaign.from_hashes(now_id, meta, ended).state == "finished"
    reading = {**meta, "ingest": "reading"}
    assert campaigns.Campaign.from_hashes(now_id, reading, ended).state == "running"
    assert campaigns.Campaign.from_hashes(now_id, meta, {}).state == "finished"  # none enqueued
    from_code = {k: v for k, v in meta.items() if k != "ingest"}
    assert campaigns.Campaign.from_hashes(now_id, from_code, {}).state == "running"
    assert campaigns.Campaign.from_hashes(now_id, from_code, ended).state == "finished"


def test_a_blast_prints_its_figures_before_sending(doors: Doors, tmp_path: Path) -> None:
    path = people(tmp_path / "people.csv", rows=3)
    code, out, err = cli_blast(doors, path)
    assert code == 0, err
    lines = out.splitlines()
    cid = lines[-1].split()[1].rstrip(":")
    assert lines[0] == (
        f"campaign {cid}, before sending: 3 rows, 0 rejected, 0 already enqueued, "
        "0 suppressed (opted out); 3 to send"
    )
    assert lines[1].startswith("encoding: 3 GSM-7, 0 UCS-2, 0 MMS")
    assert lines[2].startswith("segments: 3 ")
    # After the blast, the same figures of what it enqueued.
    assert lines[-6:-1] == ["the 3 messages enqueued:", *[f"  {line}" for line in lines[1:5]]]
    again = cli_blast(doors, path)[1].splitlines()
    assert again[0].endswith("0 rejected, 3 already enqueued, 0 suppressed (opted out); 0 to send")
    # A replay enqueues nothing: no figures of it, the counts on the last line.
    assert again[-2:] == [
        again[4],  # time: ...
        f"campaign {cid}: 3 rows, 0 enqueued, 3 already enqueued, 0 rejected, "
        "0 suppressed (opted out)",
    ]


def test_a_blast_records_its_ingest_for_status_and_http_alike(doors: Doors, tmp_path: Path) -> None:
    path = people(tmp_path / "people.csv", rows=1500)
    with path.open("a") as fh:
        fh.write("not-a-number,X\n")
    code, out, err = cli_blast(doors, path, "--campaign", f"ingest-{uuid.uuid4().hex[:8]}")
    assert code == 0, err
    cid = out.splitlines()[-1].split()[1].rstrip(":")
    shown = run_cli(doors.config, "status", cid, "--json")
    status, campaign = doors.api.get(f"/v1/campaigns/{cid}")
    assert status == 200
    assert json.loads(shown.stdout)["ingest"] == campaign["ingest"]
    ingest = campaign["ingest"]
    assert ingest["state"] == "done" and ingest["stopped_at"] is None
    assert [ingest[n] for n in ("rows", "enqueued", "duplicates", "rejected", "suppressed")] == [
        1501,
        1500,
        0,
        1,
        0,
    ]
    line = run_cli(doors.config, "status", cid).stdout.splitlines()[1]
    assert line.strip().startswith("ingest done: 1,501 rows read, 1,500 enqueued")


COUNTED = ("rows", "enqueued", "duplicates", "rejected", "suppressed")


def replayable(path: Path) -> Path:
    """A CSV of 20 people, one row rejected and one repeating the first row's message: 22 rows,
    20 enqueued, 1 already enqueued (a repeat in the file), 1 rejected."""
    people(path, rows=20)
    first = path.read_text().splitlines()[1]
    with path.open("a") as fh:
        fh.write(f"not-a-number,X\n{first}\n")
    return path


FIRST_RUN = [22, 20, 1, 1, 0]
REPLAY = [22, 0, 21, 1, 0]  # every row whose message the campaign holds: already enqueued


def campaign_of(doors: Doors, cid: str) -> dict[str, Any]:
    """The campaign over HTTP, checked to be the CLI's `status --json` too."""
    status, campaign = doors.api.get(f"/v1/campaigns/{cid}")
    assert status == 200, campaign
    shown = json.loads(run_cli(doors.config, "status", cid, "--json").stdout)
    assert shown == campaign
    return dict(campaign)


def test_a_replay_after_the_cli_keeps_the_campaigns_source_and_counts(
    doors: Doors, tmp_path: Path
) -> None:
    """`salvo blast` then the same file uploaded (in the background, then waited for): the
    campaign keeps the CLI's source and its counts; each replay's own answer and run say
    every row was already enqueued."""
    path = replayable(tmp_path / "people.csv")
    code, out, err = cli_blast(doors, path)
    assert code == 0, err
    assert cli_counts(out) == FIRST_RUN
    cid = out.splitlines()[-1].split()[1].rstrip(":")
    status, body = upload(doors, path.read_bytes(), wait="false")
    assert (status, body["campaign"]) == (202, cid), body
    assert body["estimate"]["duplicates"] == 21  # said before it is read
    ingest = ingest_of(doors.api, cid, ("done", "failed", "stopped"))
    assert [ingest[n] for n in COUNTED] == FIRST_RUN, ingest
    assert [ingest["run"][n] for n in COUNTED] == REPLAY, ingest
    status, answer = upload(doors, path.read_bytes())  # wait=true: the run's counts
    assert status == 202, answer
    assert [answer[n] for n in COUNTED] == REPLAY
    campaign = campaign_of(doors, cid)
    assert campaign["source"] == str(path)
    assert [campaign["ingest"][n] for n in COUNTED] == FIRST_RUN
    assert campaign["counts"]["total"] == 20
    line = run_cli(doors.config, "status", cid).stdout.splitlines()[1].strip()
    assert line == (
        "ingest done: 22 rows read, 20 enqueued, 1 already enqueued, 1 rejected, 0 suppressed; "
        "its latest run: 22 rows read, 0 enqueued, 21 already enqueued, 1 rejected, 0 suppressed"
    )


def test_an_upload_twice_then_the_cli_keeps_the_first_uploads_record(
    doors: Doors, tmp_path: Path
) -> None:
    path = replayable(tmp_path / "people.csv")
    status, body = upload(doors, path.read_bytes(), wait="false")
    assert status == 202, body
    cid = body["campaign"]
    first = ingest_of(doors.api, cid, ("done", "failed", "stopped"))
    assert [first[n] for n in COUNTED] == [first["run"][n] for n in COUNTED] == FIRST_RUN
    source = campaign_of(doors, cid)["source"]
    assert source.startswith("upload sha256:")
    status, body = upload(doors, path.read_bytes(), wait="false")
    assert (status, body["campaign"]) == (202, cid), body
    # Waiting to be read: the replay's run has read nothing yet, the campaign keeps its counts.
    if body["ingest"]["state"] == "waiting":
        assert [body["ingest"][n] for n in COUNTED] == FIRST_RUN
        assert [body["ingest"]["run"][n] for n in COUNTED] == [0, 0, 0, 0, 0]
    again = ingest_of(doors.api, cid, ("done", "failed", "stopped"))
    assert [again[n] for n in COUNTED] == FIRST_RUN, again
    assert [again["run"][n] for n in COUNTED] == REPLAY, again
    code, out, err = cli_blast(doors, path)
    assert code == 0, err
    assert cli_counts(out) == REPLAY
    assert out.splitlines()[-1].startswith(f"campaign {cid}:")
    campaign = campaign_of(doors, cid)
    assert campaign["source"] == source
    assert [campaign["ingest"][n] for n in COUNTED] == FIRST_RUN
    assert [campaign["ingest"]["run"][n] for n in COUNTED] == REPLAY


def test_a_campaigns_ingest_counts_are_of_the_rows_it_holds() -> None:
    """sms.campaigns.merge_ingest: a replay adds what it enqueued, never lowers the counts."""
    first = dict(zip(COUNTED, FIRST_RUN, strict=True))
    replay = dict(zip(COUNTED, REPLAY, strict=True))
    assert campaigns.merge_ingest(first, replay) == first
    # Stopped after 10 rows, then run again to the end: the rows once.
    stopped = dict(zip(COUNTED, [10, 10, 0, 0, 0], strict=True))
    resumed = dict(zip(COUNTED, [22, 10, 11, 1, 0], strict=True))
    assert campaigns.merge_ingest(stopped, resumed) == first
    # A replay cut short counts nothing less.
    cut = dict(zip(COUNTED, [5, 0, 5, 0, 0], strict=True))
    assert campaigns.merge_ingest(first, cut) == first
    # A named campaign's file with 3 rows added: only those are new.
    grown = dict(zip(COUNTED, [25, 3, 21, 1, 0], strict=True))
    assert list(campaigns.merge_ingest(first, grown).values()) == [25, 23, 1, 1, 0]


def test_two_runs_of_one_campaign_at_once_add_up_in_its_counts(r: redis.Redis) -> None:
    """Both read the campaign's counts (none) as they start, then write their progress in
    turns: each write adds what its run enqueued since its last, so neither is lost."""
    cid = f"twice-{uuid.uuid4().hex[:8]}"
    campaigns.create(r, cid, account="carrierx", template="Hi", source="a.csv")

    def run(enqueued: int, rejected: int = 0) -> dict[str, int]:
        return {"rows": enqueued + rejected, "enqueued": enqueued, "duplicates": 0,
                "rejected": rejected, "suppressed": 0}  # fmt: skip

    before = campaigns.ingest_counts(r, cid)
    written: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    for name, counts in (("a", run(5)), ("b", run(3, 1)), ("a", run(10)), ("b", run(7, 1))):
        state = campaigns.IngestState.READING
        campaigns.record_ingest(r, cid, state, counts, before=before, written=written[name])
        written[name] = counts
    assert campaigns.ingest_counts(r, cid) == {
        "rows": 18,
        "enqueued": 17,
        "duplicates": 0,
        "rejected": 1,
        "suppressed": 0,
    }


def ingest_of(api: Api, cid: str, until: tuple[str, ...], timeout: float = 300) -> dict[str, Any]:
    """The campaign's ingest once its state is one of `until` (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        status, campaign = api.get(f"/v1/campaigns/{cid}")
        assert status == 200, campaign
        ingest: dict[str, Any] = campaign["ingest"]
        if ingest["state"] in until:
            return ingest
        assert time.monotonic() < deadline, ingest
        time.sleep(0.2)


def cli_counts(out: str) -> list[int]:
    """rows, enqueued, already enqueued, rejected, suppressed from the blast's last line."""
    last = out.splitlines()[-1]
    return [
        int(n) for n in re.findall(r"(\d+) (?:rows|enqueued|already|rejected|suppressed)", last)
    ]


def big_file(path: Path, rows: int) -> Path:
    people(path, rows=rows)
    with path.open("a") as fh:
        fh.write("not-a-number,X\n,\n+1 312 555 0100,Dup\n")
    return path


def test_a_large_upload_answers_at_once_and_reaches_the_counts_of_the_cli(
    doors: Doors, tmp_path: Path
) -> None:
    path = big_file(tmp_path / "big.csv", 30_000)
    tag = uuid.uuid4().hex[:8]
    status, body = upload(doors, path.read_bytes(), wait="false", campaign=f"up-{tag}")
    assert status == 202, body
    cid = body["campaign"]
    assert body["status"] == f"/v1/campaigns/{cid}"
    # The answer came before the file was read: 30,003 rows take seconds, the answer did not
    # wait for them (its ingest is waiting or reading, with fewer rows counted).
    assert body["ingest"]["state"] in ("waiting", "reading")
    assert body["ingest"]["rows"] < 30_003
    # It carries the figures `salvo blast` prints before sending, estimated from the first rows.
    estimate = body["estimate"]
    assert (estimate["exact"], estimate["sampled"]) == (False, 2000)
    assert 27_000 < estimate["rows"] < 33_000, estimate
    assert estimate["segments"] >= estimate["to_send"] > 0
    ingest = ingest_of(doors.api, cid, ("done", "failed", "stopped"))
    assert ingest["state"] == "done", ingest
    code, out, err = cli_blast(doors, path, "--campaign", f"cli-{tag}")
    assert code == 0, err
    assert f"about {estimate['rows']:,} rows" in out.splitlines()[0], out
    assert [ingest[n] for n in COUNTED] == cli_counts(out) == [30_003, 30_001, 0, 2, 0]
    # The same upload again is a replay: nothing enqueued twice, and the campaign's counts
    # stay those of what it holds; the replay's own run found every row already enqueued.
    status, body = upload(doors, path.read_bytes(), wait="false", campaign=f"up-{tag}")
    assert status == 202, body
    again = ingest_of(doors.api, cid, ("done",))
    assert (again["enqueued"], again["duplicates"]) == (30_001, 0)
    assert (again["run"]["enqueued"], again["run"]["duplicates"]) == (0, 30_001)


def test_an_upload_cut_by_a_restart_is_resumed_by_the_next_api(
    tmp_path: Path, unit_url: str, sandbox_url: str
) -> None:
    providers = sandbox_accounts(sandbox_url, receipt_secret="not-used-here")
    config = write_config(tmp_path / "salvo.toml", unit_url, providers, api_keys=[KEY])
    spool = tmp_path / "uploads"
    path = big_file(tmp_path / "big.csv", 60_000)
    cid = f"restart-{uuid.uuid4().hex[:8]}"
    with api_process(config, tmp_path / "api.log", upload_dir=spool) as server:
        api = Api(server.url, KEY)
        status, body = upload(Doors(config, api), path.read_bytes(), wait="false", campaign=cid)
        assert status == 202, body
        ingest_of(api, cid, ("reading",))
    # Stopped while reading (SIGTERM): the blast stopped after a chunk, the job is kept.
    campaign = campaigns.read(redis.Redis.from_url(unit_url, decode_responses=True), cid)
    assert campaign.ingest is not None
    if campaign.ingest["state"] != "done":
        assert campaign.ingest["state"] == "stopped"
        assert campaign.ingest["reason"] == "interrupted"
        assert (spool / f"{cid}.json").exists()
    with api_process(config, tmp_path / "api.log", upload_dir=spool) as server:
        api = Api(server.url, KEY)
        ingest = ingest_of(api, cid, ("done", "failed"))
    assert ingest["state"] == "done", ingest
    assert ingest["rows"] == 60_003 and ingest["enqueued"] + ingest["duplicates"] == 60_001
    counts = redis.Redis.from_url(unit_url, decode_responses=True).hgetall(
        keys.campaign_counts(cid)
    )
    assert int(counts["total"]) == 60_001  # nothing enqueued twice
    assert not list(spool.iterdir())  # the job's files are gone


def test_every_rejected_row_is_downloadable_as_the_clis_rejects_file(
    doors: Doors, tmp_path: Path
) -> None:
    """More rows rejected than the campaign's record lists: all of them over HTTP, as CSV (the
    CLI's rejects file, byte for byte) and JSONL, and the fixed file blasts as it is."""
    path = tmp_path / "mixed.csv"
    lines = ["phone,name"]
    for i in range(600):
        lines.append(f"+1312{5_100_000 + i:07d},Ok {i}")
        lines.append(f'+1312555{i:04d}x,"Bad, {i}"')  # letters in the number: rejected
    path.write_text("\n".join(lines) + "\n")
    tag = uuid.uuid4().hex[:8]
    status, body = upload(doors, path.read_bytes(), wait="false", campaign=f"rj-{tag}")
    assert status == 202, body
    ingest = ingest_of(doors.api, f"rj-{tag}", ("done", "failed", "stopped"))
    assert (ingest["state"], ingest["rejected"], ingest["enqueued"]) == ("done", 600, 600)
    status, text = doors.api.get(f"/v1/campaigns/rj-{tag}/rejects")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["line", "reason", "phone", "name"]
    assert [int(r[0]) for r in rows[1:]] == [3 + 2 * i for i in range(600)]
    assert rows[1][1:] == ["phone: contains letters ('+13125550000x')", "+13125550000x", "Bad, 0"]
    rejects = tmp_path / "cli.rejects.csv"
    code, _, err = cli_blast(doors, path, "--campaign", f"rj-cli-{tag}", "--rejects", str(rejects))
    assert code == 0, err
    assert rejects.read_bytes() == text.encode()  # the same file through either door
    status, text = doors.api.get(f"/v1/campaigns/rj-{tag}/rejects?format=jsonl")
    assert status == 200
    first = json.loads(text.splitlines()[0])
    assert first == {
        "phone": "+13125550000x",
        "name": "Bad, 0",
        "line": 3,
        "reason": "phone: contains letters ('+13125550000x')",
    }
    assert len(text.splitlines()) == 600
    assert doors.api.get(f"/v1/campaigns/rj-{tag}/rejects?format=xml")[0] == 422
    assert doors.api.get("/v1/campaigns/no-such-campaign/rejects")[0] == 404
    # Fixed (the letter dropped), the downloaded file blasts as it is: every row enqueued.
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(rows_text := text_of(rows).replace("x,", ","))
    assert rows_text.count("\n") == 601
    code, out, err = cli_blast(doors, fixed, "--campaign", f"rj-fixed-{tag}")
    assert code == 0, err
    assert cli_counts(out) == [600, 600, 0, 0, 0]


def text_of(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def test_an_upload_read_while_redis_goes_away_is_finished_when_it_comes_back(
    tmp_path: Path, sandbox_url: str
) -> None:
    """The API's reading thread tries again by itself (5 s, then 10 s, ...): nothing to send
    again, and nothing enqueued twice."""
    proc, url = spawn(tmp_path / "redis", own_session=True)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        providers = sandbox_accounts(sandbox_url, receipt_secret="not-used-here")
        config = write_config(tmp_path / "salvo.toml", url, providers, api_keys=[KEY])
        path = big_file(tmp_path / "big.csv", 20_000)
        cid = f"outage-{uuid.uuid4().hex[:8]}"
        with api_process(config, tmp_path / "api.log", upload_dir=tmp_path / "up") as server:
            api = Api(server.url, KEY)
            status, body = upload(Doors(config, api), path.read_bytes(), wait="false", campaign=cid)
            assert status == 202, body
            proc.kill()
            proc.wait()
            proc, _ = spawn(tmp_path / "redis", port=port, own_session=True)
            deadline = time.monotonic() + 120
            while True:
                status, campaign = api.get(f"/v1/campaigns/{cid}")
                # Its ingest may be missing a moment (the server lost its last second).
                if status == 200 and (campaign.get("ingest") or {}).get("state") == "done":
                    break
                assert time.monotonic() < deadline, (status, campaign)
                time.sleep(0.5)
        ingest = campaign["ingest"]
        assert ingest["rows"] == 20_003
        assert ingest["enqueued"] + ingest["duplicates"] == 20_001
        total = redis.Redis.from_url(url).hget(keys.campaign_counts(cid), "total")
        assert int(total or 0) == 20_001  # nothing enqueued twice
    finally:
        proc.kill()
        proc.wait()
