"""`salvo optout add|remove|check|list|import|export` and `salvo inbound`: the suppression list
and the replies kept, the same operations as `/v1/optouts` and `/v1/inbound`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from salvo.options import account_option
from sms.plural import counted

if TYPE_CHECKING:
    from producer.api import Producer
    from producer.preflight import Estimate, Report


def _producer(ctx: click.Context) -> Producer:
    from producer.api import Producer
    from salvo.cli import _settings

    return Producer(_settings(ctx))


def normalise(phone: str, region: str | None) -> str:
    """A number as E.164 (sms.optout.normalise, imported only when a command runs)."""
    from sms.optout import normalise as to_e164

    return to_e164(phone, region)


@contextmanager
def _opened(ctx: click.Context, account: str | None) -> Iterator[tuple[Producer, str]]:
    """A producer and the account named (required unless opt-outs are global)."""
    producer = _producer(ctx)
    try:
        settings = producer.settings
        if account is None:
            if settings.optout_scope != "global":
                raise click.UsageError("--account is required: opt-outs are kept per account")
            account = ""
        else:
            settings.account(account)  # ConfigError naming the known accounts
        yield producer, account
    finally:
        producer.close()


def _when(at: float) -> str:
    """A time as every door shows it (sms.times.iso)."""
    from sms.times import iso

    return iso(at)


ACCOUNT = account_option(required=False, help_text="provider account name (needed unless global)")


@click.group()
def optout() -> None:
    """The suppression list: numbers that opted out are never sent to."""


@optout.command()
@click.argument("phones", nargs=-1, required=True)
@ACCOUNT
@click.option("--note", default="", help="why, kept with each entry")
@click.pass_context
def add(ctx: click.Context, phones: tuple[str, ...], account: str | None, note: str) -> None:
    """Opt numbers out."""
    with _opened(ctx, account) as (producer, name):
        region = producer.settings.default_region
        numbers = [normalise(p, region) for p in phones]  # every number checked before any added
        for number in numbers:
            added = producer.optouts.add(name, number, note=note)
            click.echo(f"{number}: {'opted out' if added else 'already opted out'}")


@optout.command()
@click.argument("phones", nargs=-1, required=True)
@ACCOUNT
@click.pass_context
def remove(ctx: click.Context, phones: tuple[str, ...], account: str | None) -> None:
    """Opt numbers back in (take them off the list)."""
    with _opened(ctx, account) as (producer, name):
        region = producer.settings.default_region
        numbers = [normalise(p, region) for p in phones]
        for number in numbers:
            removed = producer.optouts.remove(name, number)
            click.echo(f"{number}: {'removed' if removed else 'was not on the list'}")


@optout.command()
@click.argument("phone")
@ACCOUNT
@click.pass_context
def check(ctx: click.Context, phone: str, account: str | None) -> None:
    """Say whether a number opted out (exit status 1 when it did not)."""
    with _opened(ctx, account) as (producer, name):
        number = normalise(phone, producer.settings.default_region)
        entry = producer.optouts.get(name, number)
    if entry is None:
        click.echo(f"{number}: not opted out")
        sys.exit(1)
    note = f": {entry.note}" if entry.note else ""
    click.echo(f"{number}: opted out {_when(entry.at)} ({entry.source}{note})")


@optout.command(name="list")
@ACCOUNT
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@click.pass_context
def list_(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """List the opted-out numbers."""
    with _opened(ctx, account) as (producer, name):
        count = 0
        for entry in producer.optouts.entries(name):
            count += 1
            if as_json:
                click.echo(json.dumps(entry.as_dict()))
            else:
                note = f"  {entry.note}" if entry.note else ""
                click.echo(f"{entry.phone}  {_when(entry.at)}  {entry.source}{note}")
        if not as_json:
            click.echo(f"{counted(count, 'number')} opted out", err=True)


@optout.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@ACCOUNT
@click.pass_context
def import_(ctx: click.Context, file: Path, account: str | None) -> None:
    """Add every number of a CSV (a `phone` column, or one number per line)."""
    with _opened(ctx, account) as (producer, name):
        region = producer.settings.default_region
        with file.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
            report = producer.optouts.import_csv(name, fh, region=region)
    click.echo(
        f"{file}: {report.added} added, {report.already} already opted out, "
        f"{len(report.invalid)} not numbers"
    )
    for line, reason in report.invalid[:20]:
        click.echo(f"  line {line}: {reason}")
    if len(report.invalid) > 20:
        click.echo(f"  ... and {len(report.invalid) - 20} more")


@optout.command()
@ACCOUNT
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="CSV file")
@click.pass_context
def export(ctx: click.Context, account: str | None, output: Path | None) -> None:
    """Write the list as CSV (phone, account, at, source, note) to stdout or a file."""
    with _opened(ctx, account) as (producer, name):
        if output is None:
            producer.optouts.export_csv(name, sys.stdout)
            return
        with output.open("w", newline="", encoding="utf-8") as fh:
            rows = producer.optouts.export_csv(name, fh)
    click.echo(f"{counted(rows, 'number')} written to {output}")


@click.command()
@account_option(required=False, help_text="only this account's replies")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@click.pass_context
def inbound(ctx: click.Context, account: str | None, limit: int, as_json: bool) -> None:
    """List the replies recipients sent (newest first), with the keyword each was."""
    from sms.inbound import listing

    producer = _producer(ctx)
    try:
        if account is not None:
            producer.settings.account(account)  # ConfigError naming the known accounts
        rows = listing(producer.redis, account=account, limit=limit)
    finally:
        producer.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        at = row.get("at") or "-"
        word = row.get("keyword") or "-"
        text = row.get("text", "").replace("\n", " ")
        click.echo(f"{at}  {row['account']}  {row['from']} -> {row['to']}  {word}  {text}")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "less than a second"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    whole = not minutes and (days or hours)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append("" if whole else f"{minutes} min")
    return " ".join(p for p in parts if p)


def _per_second(rate: float) -> str:
    """A rate as people read it: 36.2, 4.04, 0.5, 2,000 (not 36.1827 or 2e+03)."""
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def figures_lines(report: Report) -> list[str]:
    """Encoding, segments, cost and time of a preflight (or of a blast as it went)."""
    forced = ", ".join(f"{c!r} x{n}" for c, n in report.ucs2_characters[:5])
    lines = [
        f"encoding: {report.gsm7:,} GSM-7, {report.ucs2:,} UCS-2, {report.mms:,} MMS"
        + (f"; forcing UCS-2 most often: {forced}" if forced else "")
    ]
    smart = "on" if report.smart_encoding else "off"
    verb = "saves" if report.smart_encoding else "would save"
    lines.append(
        f"segments: {report.segments:,} (smart encoding {smart}: {verb} {report.segments_saved:,})"
    )
    lines.append(
        f"cost: {report.cost:.4f}"
        if report.cost is not None
        else "cost: unknown (set price_per_segment, and price_per_mms for MMS)"
    )
    if report.seconds is None or report.rate is None:
        lines.append("time: unknown (no configured rate and none learnt yet)")
    else:
        held = report.held_for_quiet_hours
        quiet = f"; {held} wait for quiet hours to end" if held else ""
        rate = f"{_per_second(report.rate)}/s ({report.rate_source})"
        about = "" if report.seconds < 1 else "about "
        lines.append(f"time: {about}{_duration(report.seconds)} at {rate}{quiet}")
    return lines


def start_lines(found: Estimate) -> list[str]:
    """What `salvo blast` prints before it enqueues anything: the preflight's figures, of the
    whole file when it is small, else estimated from its first rows."""
    report = found.report
    about = "" if found.exact else "about "
    where = "" if found.exact else f" (estimated from its first {found.sampled:,} rows)"
    lines = [
        f"campaign {report.campaign}, before sending{where}: {about}{report.rows:,} rows, "
        f"{report.rejected:,} rejected, {report.duplicates:,} already enqueued, "
        f"{report.suppressed:,} suppressed (opted out); {about}{report.to_send:,} to send"
    ]
    return lines + figures_lines(report)


def preflight_lines(report: Report) -> list[str]:
    """What `salvo blast --dry-run` prints."""
    lines = [
        f"campaign {report.campaign} (dry run, nothing enqueued): {report.rows:,} rows, "
        f"{report.valid:,} valid, {report.rejected:,} rejected, {report.duplicates:,} already "
        f"enqueued, {report.suppressed:,} suppressed (opted out); {report.to_send:,} to send"
    ]
    if report.rejects_path:
        lines.append(f"rejected rows (line and reason): {report.rejects_path}")
    return lines + figures_lines(report)
