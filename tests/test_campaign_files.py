"""Campaign files from the wild: every row counted, every bad one a reject with its first line
and the reason, the rest of the file unaffected; a blast that has to stop says where."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest
import redis

from producer.api import Producer
from producer.campaign import BlastReport, BlastSpec, blast
from producer.sources import MAX_RECORD
from sms import keys
from sms.embedded import spawn
from sms.errors import InvalidInput
from sms.settings import Settings

SENDER = "+14155550101"


def spec(**kw: object) -> BlastSpec:
    return BlastSpec(
        account="carrierx",
        sender=SENDER,
        template="Hi {name}",
        campaign=f"f{uuid.uuid4().hex[:12]}",
        **kw,  # type: ignore[arg-type]
    )


def number(i: int) -> str:
    return f"+1312555{i:04d}"


def run(producer: Producer, path: Path, data: bytes) -> tuple[BlastReport, list[list[str]]]:
    path.write_bytes(data)
    report = blast(producer, path, spec(), rejects_path=path.with_suffix(".rejects.csv"))
    assert report.rows == report.enqueued + report.duplicates + report.rejected
    rejects = path.with_suffix(".rejects.csv")
    if not rejects.exists():
        return report, []
    if path.suffix == ".jsonl":  # a JSONL file's rejects are JSONL: each row with line, reason
        entries = [json.loads(text) for text in rejects.read_text(encoding="utf-8").splitlines()]
        return report, [[str(e["line"]), e["reason"]] for e in entries]
    return report, list(csv.reader(rejects.open(encoding="utf-8")))[1:]


def test_a_quoted_field_longer_than_the_csv_modules_limit_derails_nothing(
    producer: Producer, tmp_path: Path
) -> None:
    long = "x" * 200_000
    data = f'phone,name\n{number(1)},"{long}"\n{number(2)},Ann\n{number(3)},Bo\n'.encode()
    report, rejects = run(producer, tmp_path / "long.csv", data)
    assert (report.rows, report.rejected, report.enqueued) == (3, 1, 2)
    assert rejects[0][0] == "2"
    assert rejects[0][1].startswith("body: 200,003 characters")


def test_a_row_longer_than_the_limit_is_a_reject_and_the_rest_is_read(
    producer: Producer, tmp_path: Path
) -> None:
    long = "y" * (MAX_RECORD + 10)
    data = f'phone,name\n{number(1)},"{long}\nstill\nquoted"\n{number(2)},Ann\n'.encode()
    report, rejects = run(producer, tmp_path / "huge.csv", data)
    assert (report.rows, report.rejected, report.enqueued) == (2, 1, 1)
    assert rejects == [["2", f"malformed row: longer than {MAX_RECORD:,} bytes"]]


def test_invalid_utf8_in_a_row_is_a_reject_with_its_line(
    producer: Producer, tmp_path: Path
) -> None:
    rows = [f"{number(i)},P{i}\n".encode() for i in range(10)]
    rows[4] = number(4).encode() + b",Jos\xe9\n"  # Latin-1, line 6
    report, rejects = run(producer, tmp_path / "latin.csv", b"phone,name\n" + b"".join(rows))
    assert (report.rows, report.enqueued, report.rejected) == (10, 9, 1)
    assert rejects[0][:2] == ["6", "not valid UTF-8: byte 17 of the row is 0xe9"]


def test_a_nul_in_a_row_is_a_reject(producer: Producer, tmp_path: Path) -> None:
    data = f"phone,name\n{number(1)},A\x00B\n{number(2)},C\n".encode()
    report, rejects = run(producer, tmp_path / "nul.csv", data)
    assert (report.rows, report.enqueued, report.rejected) == (2, 1, 1)
    assert rejects[0][:2] == ["2", "NUL character at byte 15 of the row"]


def test_blank_and_comma_only_rows_are_counted(producer: Producer, tmp_path: Path) -> None:
    data = f"phone,name\n{number(1)},A\n,\n\n , \n{number(2)},B\n".encode()
    report, rejects = run(producer, tmp_path / "blank.csv", data)
    assert (report.rows, report.enqueued, report.rejected) == (5, 2, 3)
    assert [r[:2] for r in rejects] == [["3", "blank row"], ["4", "blank row"], ["5", "blank row"]]


def test_a_rejects_line_is_the_first_line_of_its_record(producer: Producer, tmp_path: Path) -> None:
    data = f'phone,name\n{number(1)},"two\nlines"\nnot-a-number,"three\nmore\nlines"\n'.encode()
    report, rejects = run(producer, tmp_path / "multi.csv", data)
    assert (report.rows, report.enqueued, report.rejected) == (2, 1, 1)
    assert rejects[0][0] == "4"


def test_a_quote_inside_an_unquoted_field_is_a_character(
    producer: Producer, tmp_path: Path
) -> None:
    data = f'phone,name\n{number(1)},5" screen\n{number(2)},B\n{number(3)},"C ""Q"""\n'.encode()
    report, rejects = run(producer, tmp_path / "inches.csv", data)
    assert (report.rows, report.enqueued, report.rejected) == (3, 3, 0), rejects


def test_a_utf16_file_is_refused_saying_so(producer: Producer, tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(f"phone,name\n{number(1)},A\n".encode("utf-16"))
    with pytest.raises(InvalidInput, match="UTF-16; save it as UTF-8"):
        blast(producer, path, spec())


def test_jsonl_rows_that_cannot_be_read_are_rejects_with_their_line(
    producer: Producer, tmp_path: Path
) -> None:
    data = (
        f'{{"phone": "{number(1)}", "name": "A"}}\n'.encode()
        + b'{"phone": "+13125550002", "name": "\xff"}\n'
        + b"\n"
        + b"[" * 10_000
        + b"\n"
        + f'{{"phone": "{number(3)}", "name": "A\\u0000"}}\n'.encode()
        + f'{{"phone": "{number(4)}", "name": "D"}}\n'.encode()
    )
    path = tmp_path / "rows.jsonl"
    report, rejects = run(producer, path, data)
    assert (report.rows, report.enqueued, report.rejected) == (6, 2, 4)
    assert [r[0] for r in rejects] == ["2", "3", "4", "5"]
    assert rejects[0][1].startswith("not valid UTF-8")
    assert rejects[1][1] == "blank row"


def test_a_blast_that_loses_redis_says_where_it_stopped_and_a_rerun_finishes_it(
    tmp_path: Path, settings: Settings
) -> None:
    proc, url = spawn(tmp_path / "redis", own_session=True)
    path = tmp_path / "big.csv"
    path.write_text("phone,name\n" + "".join(f"{number(i)},P{i}\n" for i in range(2500)))
    the_spec = spec()
    try:
        producer = Producer(settings, redis_url=url)

        def kill_after_first_chunk(done: int) -> None:
            proc.kill()
            proc.wait()

        report = blast(producer, path, the_spec, progress=kill_after_first_chunk)
        producer.close()
        assert report.stopped is not None and "Redis unreachable" in report.stopped
        # The chunk counted first, and the one the writer took up meanwhile (IN_HAND), were
        # written before the server went; every row before the line it names is counted.
        assert report.rows in (1000, 2000)
        assert (report.enqueued, report.stopped_at) == (report.rows, report.rows + 2)

        port = int(url.rsplit(":", 1)[1].split("/")[0])
        proc, url = spawn(tmp_path / "redis", port=port, own_session=True)
        producer = Producer(settings, redis_url=url)
        again = blast(producer, path, the_spec)
        producer.close()
        assert again.stopped is None
        assert (again.rows, again.enqueued + again.duplicates) == (2500, 2500)
        counts = redis.Redis.from_url(url, decode_responses=True).hgetall(
            keys.campaign_counts(the_spec.campaign or "")
        )
        assert int(counts["total"]) == 2500  # nothing enqueued twice
    finally:
        proc.kill()
        proc.wait()


def test_the_phone_header_in_any_case_or_named_by_phone_column(
    producer: Producer, tmp_path: Path
) -> None:
    report, _ = run(producer, tmp_path / "a.csv", f"name,PHONE\nA,{number(901)}\n".encode())
    assert (report.rows, report.enqueued) == (1, 1)
    path = tmp_path / "b.csv"
    path.write_text(f"name,mobile\nB,{number(902)}\n")
    with pytest.raises(InvalidInput, match=r"no 'phone' column .*--phone-column"):
        blast(producer, path, spec())
    report = blast(producer, path, spec(phone_column="Mobile"))
    assert (report.rows, report.enqueued) == (1, 1)
    both = tmp_path / "c.csv"
    both.write_text(f"phone,mobile\n{number(903)},{number(904)}\n")
    with pytest.raises(InvalidInput, match=r"both 'mobile' and 'phone' columns"):
        blast(producer, both, spec(phone_column="mobile"))
    semicolons = tmp_path / "d.csv"  # as a spreadsheet saves it where ',' is the decimal mark
    semicolons.write_text(f"phone;name\n{number(905)};D\n")
    with pytest.raises(InvalidInput, match=r"looks ';'-separated: save the file as CSV with"):
        blast(producer, semicolons, spec())


def test_the_rejects_file_can_be_fixed_and_fed_back(producer: Producer, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f'phone,name\n{number(911)},"Ann, Jr"\n"+1 312 BAD",Bob\n')
    report = blast(producer, path, spec())
    assert (report.enqueued, report.rejected) == (1, 1)
    rejects = tmp_path / "people.rejects.csv"
    fixed = rejects.read_text().replace("+1 312 BAD", number(912))
    assert fixed.splitlines()[0] == "line,reason,phone,name"
    rejects.write_text(fixed)
    again = blast(producer, rejects, spec())
    assert (again.rows, again.enqueued, again.rejected) == (1, 1, 0)


def test_a_jsonl_files_rejects_are_jsonl_each_row_with_its_line_and_reason(
    producer: Producer, tmp_path: Path
) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text(
        f'{{"phone": "{number(801)}", "name": "Ok"}}\n'
        '{"phone": "+1 312 BAD", "name": "Fix me", "tier": 2}\n'
        "not json\n"
    )
    report = blast(producer, path, spec())
    assert (report.rows, report.enqueued, report.rejected) == (3, 1, 2)
    assert report.rejects_path == tmp_path / "people.rejects.jsonl"
    first, second = (json.loads(t) for t in report.rejects_path.read_text().splitlines())
    assert first == {
        "phone": "+1 312 BAD",
        "name": "Fix me",
        "tier": 2,
        "line": 2,
        "reason": "phone: contains letters ('+1 312 BAD')",
    }
    assert second["row"] == "not json" and second["line"] == 3
    assert second["reason"].startswith("malformed JSON")
    # Fixed, the rejects file blasts as it is (its line and reason are only more keys).
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(json.dumps({**first, "phone": number(802)}) + "\n")
    again = blast(producer, fixed, spec())
    assert (again.rows, again.enqueued) == (1, 1)


def test_a_blast_raises_the_collectors_first_threshold_and_the_last_one_puts_it_back() -> None:
    """Blasts run with fewer collections (producer.campaign._RareCollections), however many
    run at once; the threshold before is put back when the last ends, and a threshold of 0
    (collection off) is left as it is."""
    import gc

    from producer.campaign import BLAST_GC_THRESHOLD, _RareCollections

    before = gc.get_threshold()
    rare = _RareCollections()
    try:
        gc.set_threshold(700, 10, 10)
        with rare:
            assert gc.get_threshold() == (BLAST_GC_THRESHOLD, 10, 10)
            with rare:  # a second blast at once
                assert gc.get_threshold()[0] == BLAST_GC_THRESHOLD
            assert gc.get_threshold()[0] == BLAST_GC_THRESHOLD  # the first still runs
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(0, 10, 10)
        with rare:
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)
