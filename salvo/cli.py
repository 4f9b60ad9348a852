"""The `salvo` command line."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import redis.exceptions
from kombu.exceptions import OperationalError
from rich.console import Console
from rich.markup import escape

from salvo.options import Choice, account_option, lane_option
from sms.errors import SalvoError
from sms.message import Lane
from sms.plural import counted
from sms.settings import Settings
from sms.times import iso
from sms.validation import TIME_RULE, one_of, shown

console = Console(stderr=True)


def _settings(ctx: click.Context) -> Settings:
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = Settings.load(obj.get("config"))
    settings: Settings = obj["settings"]
    return settings


def _when(value: str | None, option: str = "--at") -> datetime | None:
    """The time an option gives, ISO 8601; a usage error naming `option` when it is not one."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        reason = f"{shown(value)} is not {TIME_RULE}"
        raise click.BadParameter(reason, param_hint=f"'{option}'") from None
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is the local time of the machine
    return when


#: What to check when Redis does not answer, said on the same line.
REDIS_CHECK = (
    "check that the server runs and listens there, that host, port and password are right, "
    "and that nothing between blocks the port"
)


def _redis_where(ctx: click.Context) -> str:
    """Which Redis the command used and where that was set, for an error line."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    settings: Settings | None = obj.get("settings")
    url = settings.redis_url if settings is not None else None
    if url is None:
        return "the embedded server (no redis_url set)"
    shown = re.sub(r"//[^@/]*@", "//***@", url)  # never print a password
    source = obj.get("config") or os.environ.get("SALVO_CONFIG") or "salvo.toml"
    if os.environ.get("SALVO_REDIS_URL"):
        source = "SALVO_REDIS_URL"
    return f"{shown} (redis_url in {source})"


class SalvoGroup(click.Group):
    """Turns every error into one line saying what to fix, and exit status 1 (130 when
    interrupted); `--debug` shows the traceback of an unexpected one instead."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except SalvoError as exc:
            self.fail(str(exc))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self.fail(f"cannot reach Redis at {_redis_where(ctx)}: {exc}; {REDIS_CHECK}")
        except OperationalError as exc:  # Celery's broker (the same Redis) out of reach
            self.fail(f"cannot reach the broker at {_redis_where(ctx)}: {exc}; {REDIS_CHECK}")
        except KeyboardInterrupt:
            self.fail("interrupted", status=130)
        except BrokenPipeError:
            # The reader went away (`salvo export ID | head`): stop quietly, as a shell tool
            # killed by SIGPIPE does; stdout is pointed at /dev/null so that Python's flush at
            # exit does not raise again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:
            if ctx.ensure_object(dict).get("debug"):
                raise
            self.fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")

    @staticmethod
    def fail(message: str, status: int = 1) -> None:
        """Print one error line and exit with `status`."""
        line = " ".join(part.strip() for part in message.splitlines())
        console.print(
            f"[bold red]error:[/] {escape(line)}", highlight=False, markup=True, soft_wrap=True
        )
        sys.exit(status)


@click.group(cls=SalvoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="salvo", prog_name="salvo")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="settings TOML file")
@click.option("--debug", is_flag=True, help="show the traceback of an unexpected error")
@click.pass_context
def cli(ctx: click.Context, config: str | None, debug: bool) -> None:
    """Salvo: bulk SMS and MMS through JustCall, CarrierX, TextingLine and Skycore."""
    ctx.ensure_object(dict).update(config=config, debug=debug)


@cli.command()
@account_option()
@click.option("--from", "sender", required=True, help="sender number")
@click.option("--to", "to", required=True, help="recipient number")
@click.option("--body", default="", help="message text")
@click.option("--media-url", "media", multiple=True, help="media URL (MMS); repeatable")
@click.option("--key", help="idempotency key: a second send with it sends nothing")
@lane_option(Lane.TRANSACTIONAL, "transactional goes ahead of any blast; bulk waits behind them")
@click.option("--at", "at", help="send at this ISO 8601 time")
@click.option("--expires", help="never send after this ISO 8601 time")
@click.option("--callback-url", help="http(s) URL that receives its status changes, signed")
@click.pass_context
def send(
    ctx: click.Context,
    account: str,
    sender: str,
    to: str,
    body: str,
    media: tuple[str, ...],
    key: str | None,
    lane: str,
    at: str | None,
    expires: str | None,
    callback_url: str | None,
) -> None:
    """Send one message; prints its id."""
    from producer.api import Producer, build_message
    from producer.lifecycle import time_problems
    from sms.errors import InvalidMessage

    message = build_message(
        account=account,
        to=to,
        sender=sender,
        body=body,
        media_urls=media,
        idempotency_key=key,
        lane=lane,
        send_at=_when(at),
        expires_at=_when(expires, "--expires"),
        callback_url=callback_url,
    )
    if problems := time_problems(message.send_at, message.expires_at):
        raise InvalidMessage(problems)  # said before any server is asked
    producer = Producer(_settings(ctx))
    try:
        mid = producer.send(message)  # IdempotencyConflict: one error line, exit 1
    except InvalidMessage as exc:
        raise InvalidMessage(exc.problems) from None  # one message: no "message 0" to name
    finally:
        producer.close()
    click.echo(mid)
    if key is not None and mid != message.id:
        click.echo(f"repeat: key {key!r} already sent message {mid}; nothing sent again", err=True)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@account_option()
@click.option("--from", "sender", required=True, help="sender number")
@click.option("--template", required=True, help="message text with {column} fields")
@click.option(
    "--campaign", help="campaign id (default: derived from file, account, sender, template)"
)
@click.option(
    "--key-column", default="phone", help="column whose value keys each row (idempotency)"
)
@click.option("--phone-column", help="the CSV column of numbers (default: phone, any case)")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), help="rejects CSV")
@lane_option(Lane.BULK, "bulk waits behind transactional messages (reminders)")
@click.option("--at", "at", help="send at this ISO 8601 time")
@click.option("--expires", help="never send after this ISO 8601 time")
@click.option("--dry-run", is_flag=True, help="read the whole file, enqueue nothing, report")
@click.option("--watch", is_flag=True, help="then a live progress bar until the campaign ends")
@click.option(
    "--callback-url", help="http(s) URL for its messages' status changes and campaign.finished"
)
@click.option(
    "--smart-encoding/--no-smart-encoding",
    default=None,
    help="GSM-7 look-alikes (default: setting)",
)
@click.pass_context
def blast(
    ctx: click.Context,
    file: Path,
    account: str,
    sender: str,
    template: str,
    campaign: str | None,
    key_column: str,
    phone_column: str | None,
    rejects: Path | None,
    lane: str,
    at: str | None,
    expires: str | None,
    dry_run: bool,
    smart_encoding: bool | None,
    watch: bool,
    callback_url: str | None,
) -> None:
    """Send a campaign to every row of a CSV with a `phone` column. Exit status 2 when no row
    is enqueued (now or by an earlier run), 0 otherwise; the counts are on the last line."""
    from producer.api import Producer
    from producer.campaign import BlastSpec, content_digest, source_format
    from producer.campaign import blast as run_blast
    from producer.lifecycle import time_problems
    from producer.preflight import Report, Tally, estimate, preflight
    from salvo.audience import figures_lines, preflight_lines, start_lines
    from sms.errors import InvalidMessage

    spec = BlastSpec(
        account=account,
        sender=sender,
        template=template,
        campaign=campaign,
        key_column=key_column,
        lane=Lane(lane),
        send_at=_when(at),
        expires_at=_when(expires, "--expires"),
        smart_encoding=smart_encoding,
        phone_column=phone_column,
        callback_url=callback_url,
    )
    if problems := time_problems(spec.send_at, spec.expires_at):
        raise InvalidMessage(problems)
    producer = Producer(_settings(ctx))
    try:
        if dry_run:
            click.echo(
                "\n".join(preflight_lines(preflight(producer, file, spec, rejects_path=rejects)))
            )
            return
        content = content_digest(file)
        fmt = source_format(file)
        click.echo("\n".join(start_lines(estimate(producer, file, spec, fmt=fmt, content=content))))
        tally = Tally(producer, spec, lookups=False)
        report = run_blast(
            producer, file, spec, rejects_path=rejects, sink=tally, fmt=fmt, content=content
        )
        # A paused campaign's new messages are set aside too: say so (and do not watch them
        # wait for a resume).
        paused = (
            report.stopped is None
            and report.rows > 0
            and producer.campaign(report.campaign).state.value == "paused"
        )
        if watch and not paused and report.stopped is None and report.enqueued + report.duplicates:
            from salvo.watch import watch as watch_campaign

            watch_campaign(producer, report.campaign)
    finally:
        producer.close()
    if report.rejects_path:
        click.echo(f"rejected rows (line and reason): {report.rejects_path}")
    if report.enqueued:  # the figures of what this run enqueued, exact
        click.echo(f"the {report.enqueued:,} messages enqueued:")
        lines = figures_lines(tally.finish(Report(report.campaign)))
        click.echo("\n".join(f"  {line}" for line in lines))
    if paused:
        click.echo(
            f"campaign {report.campaign} is paused: its messages wait until "
            f"`salvo resume {report.campaign}`"
        )
    # The counts on the last line, for a script to read.
    click.echo(
        f"campaign {report.campaign}: {report.rows} rows, {report.enqueued} enqueued, "
        f"{report.duplicates} already enqueued, {report.rejected} rejected, "
        f"{report.suppressed} suppressed (opted out)"
    )
    if report.stopped is not None:
        where = f"line {report.stopped_at}" if report.stopped_at else "the first row"
        redis_at = f"(Redis at {_redis_where(ctx)})" if report.stopped.startswith("Redis") else ""
        SalvoGroup.fail(
            f"blast stopped at {where}: {report.stopped} {redis_at}; the counts above are of the "
            "rows it finished, every row before that line among them: run the same command "
            "again to finish (nothing is sent twice)",
            status=130 if report.stopped == "interrupted" else 1,
        )
    if report.enqueued + report.duplicates == 0:
        sys.exit(2)  # no row is enqueued, now or before: nothing will be sent


@cli.command()
@click.argument("ident", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--watch", is_flag=True, help="a campaign: a live progress bar until it ends")
@click.pass_context
def status(ctx: click.Context, ident: str | None, as_json: bool, watch: bool) -> None:
    """Show a message's or a campaign's status; with no id, every account's."""
    from producer.api import Producer
    from sms.errors import NotFound

    producer = Producer(_settings(ctx))
    try:
        if ident is None:
            from producer.overview import overview, render

            summary = overview(producer.redis, producer.settings)
            if as_json:
                click.echo(json.dumps(summary, indent=2))
            else:
                Console().print(render(summary))
            return
        try:
            data = producer.status(ident).as_dict()
            kind = "message"
        except NotFound:
            try:
                data = producer.campaign(ident).as_dict()
            except NotFound:
                raise NotFound(f"no message or campaign with id {ident!r}") from None
            kind = "campaign"
            if watch:
                from salvo.watch import watch as watch_campaign

                watch_campaign(producer, ident)
                data = producer.campaign(ident).as_dict()  # its state too, as it ended
    finally:
        producer.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if kind == "message":
        reason = f" ({data['reason']})" if data["reason"] else ""
        click.echo(f"message {data['id']}: {data['status']}{reason}")
        click.echo(
            f"  account {data['account']}, attempts {data['attempts']}, "
            f"provider id {data['provider_id'] or '-'}"
        )
        click.echo(
            f"  send_at {data['send_at'] or '-'}, expires_at {data['expires_at'] or '-'}"
            + (f", waiting for {data['waiting_for']}" if data["waiting_for"] else "")
        )
        for h in data["history"]:
            click.echo(f"  {h['at']}  {h['status']}  {h['reason']}".rstrip())
    else:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(data["counts"].items())) or "total 0"
        click.echo(f"campaign {data['id']} ({data.get('state', '?')}): {counts}")
        if data["held"]:
            click.echo(f"  waiting for {data['held']}")
        if ingest := data.get("ingest"):
            click.echo(f"  {ingest_line(ingest)}")
        if data.get("rejected"):
            click.echo(f"  rejected rows: {data['rejected']:,}")
        if data.get("suppressed"):
            click.echo(f"  suppressed rows (opted out): {data['suppressed']:,}")


def ingest_line(ingest: dict[str, Any]) -> str:
    """A campaign's ingest in one line: `ingest reading: 120000 rows read, ...`, and its
    latest run's own counts when they differ from the campaign's (a replay)."""
    where = f" at line {ingest['stopped_at']}" if ingest.get("stopped_at") else ""
    why = f" ({ingest['reason']})" if ingest.get("reason") else ""
    line = f"ingest {ingest['state']}{where}{why}: {_ingest_counts(ingest)}"
    run = ingest.get("run")
    if run and any(run[name] != ingest[name] for name in run):
        line += f"; its latest run: {_ingest_counts(run)}"
    return line


def _ingest_counts(counts: dict[str, Any]) -> str:
    return (
        f"{counts['rows']:,} rows read, {counts['enqueued']:,} enqueued, "
        f"{counts['duplicates']:,} already enqueued, {counts['rejected']:,} rejected, "
        f"{counts['suppressed']:,} suppressed"
    )


def _control(ctx: click.Context, action: str, campaign: str) -> None:
    """Apply one campaign control (pause, resume, cancel) and say what it did."""
    from producer.api import Producer
    from producer.controls import ControlResult

    producer = Producer(_settings(ctx))
    try:
        done: ControlResult = getattr(producer, action)(campaign)
    finally:
        producer.close()
    line = f"campaign {done.campaign}: {done.previous} -> {done.state}"
    if action == "resume":
        line += f"; {counted(done.republished, 'set-aside message')} published again"
    if action == "cancel":
        # Set-aside and scheduled messages are handed to the workers only to end cancelled.
        line += (
            f"; every message not yet sent ends cancelled ({done.republished:,} set aside "
            f"while paused, {done.brought_forward:,} scheduled for later)"
        )
    click.echo(line)


@cli.command()
@click.argument("campaign")
@click.pass_context
def pause(ctx: click.Context, campaign: str) -> None:
    """Pause a campaign: workers set its messages aside until it resumes."""
    _control(ctx, "pause", campaign)


@cli.command()
@click.argument("campaign")
@click.pass_context
def resume(ctx: click.Context, campaign: str) -> None:
    """Resume a paused campaign: what was set aside is sent."""
    _control(ctx, "resume", campaign)


@cli.command()
@click.argument("ident")
@click.pass_context
def cancel(ctx: click.Context, ident: str) -> None:
    """Cancel a message not yet sent, or a campaign: every message it has not sent ends
    cancelled. Says which the id named."""
    from producer.api import Producer
    from sms.errors import NotFound

    producer = Producer(_settings(ctx))
    try:
        try:
            record = producer.cancel_message(ident)  # Conflict: too late, one error line
        except NotFound:
            record = None
    finally:
        producer.close()
    if record is None:
        try:
            _control(ctx, "cancel", ident)
        except NotFound:
            raise NotFound(f"no message or campaign with id {ident!r}") from None
        return
    click.echo(f"message {record.id}: queued -> {record.status.value}; it will not be sent")


@cli.command()
@click.argument("campaign")
@click.option("--status", "status", help="only messages in this status")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file")
@click.option("--format", "fmt", type=Choice(["csv", "jsonl"]), default="csv")
@click.pass_context
def export(
    ctx: click.Context, campaign: str, status: str | None, output: Path | None, fmt: str
) -> None:
    """Export a campaign's messages in the order of its rows (CSV or JSONL), streamed."""
    from producer import results
    from producer.api import Producer
    from sms.message import Status

    try:
        wanted = None if status is None else Status(status)
    except ValueError:
        known = [s.value for s in Status]
        raise click.BadParameter(one_of(status, known), param_hint="'--status'") from None
    producer = Producer(_settings(ctx))
    try:
        producer.campaign(campaign)  # NotFound: one error line
        with (
            output.open("w", newline="", encoding="utf-8") if output else click.open_file("-", "w")
        ) as out:
            count = results.export(
                producer.redis,
                campaign,
                out,
                fmt=fmt,
                status=wanted,
                kinds=results.providers(producer.settings),
            )
    finally:
        producer.close()
    click.echo(f"campaign {campaign}: {counted(count, 'message')} exported", err=True)


@cli.command()
@click.argument("message_id")
@click.option("--at", "at", help="send at this ISO 8601 time ('now': at once)")
@click.option("--expires", help="never send after this ISO 8601 time ('never': no limit)")
@click.pass_context
def move(ctx: click.Context, message_id: str, at: str | None, expires: str | None) -> None:
    """Move a queued message's send_at (--at) or expires_at (--expires)."""
    from producer.api import Producer

    changes: dict[str, Any] = {}
    if at is not None:
        changes["send_at"] = None if at == "now" else _when(at)
    if expires is not None:
        changes["expires_at"] = None if expires == "never" else _when(expires, "--expires")
    if not changes:
        raise click.UsageError("say --at, --expires or both")
    producer = Producer(_settings(ctx))
    try:
        record = producer.reschedule(message_id, changes)
    finally:
        producer.close()
    data = record.as_dict()
    click.echo(
        f"message {record.id}: send_at {data['send_at'] or 'now'}, "
        f"expires_at {data['expires_at'] or 'never'}"
    )


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a worker; Celery's options pass through (--concurrency, -Q, --loglevel, ...)."""
    from sms.embedded import resolve_redis_url
    from worker.main import run

    settings = _settings(ctx)
    run(settings, resolve_redis_url(settings.redis_url, settings.data_dir), ctx.args)


@cli.command()
@click.option("--port", default=8025, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
def sandbox(port: int, host: str) -> None:
    """Run the provider sandbox (all four providers on one port)."""
    import sandbox as sandbox_app

    sandbox_app.run(host=host, port=port)


@cli.command()
@click.option("--port", default=8080, show_default=True, type=int, help="0 picks a free port")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--loglevel",
    type=Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="INFO logs every request (receipt secrets masked); WARNING only refusals and failures",
)
@click.pass_context
def api(ctx: click.Context, port: int, host: str, loglevel: str) -> None:
    """Serve the HTTP API: messages, campaigns, delivery receipts, /healthz and /metrics."""
    from api import run
    from sms.embedded import resolve_redis_url

    settings = _settings(ctx)
    url = resolve_redis_url(settings.redis_url, settings.data_dir)
    run(settings, url, host=host, port=port, loglevel=loglevel)


@cli.command()
@click.option("--messages", default=10_000, show_default=True, type=int)
@click.pass_context
def demo(ctx: click.Context, messages: int) -> None:
    """Run everything on this machine: server, sandbox, worker and a campaign, with a report."""
    from salvo.demo import main as demo_main

    sys.exit(demo_main(messages))


@cli.command()
@click.argument("ids", nargs=-1)
@click.option("--account", help="only this account's messages")
@click.option("--resend", "decision", flag_value="resend", help="send them again")
@click.option("--mark-sent", "decision", flag_value="sent", help="the provider took them")
@click.option("--mark-failed", "decision", flag_value="failed", help="they will not go")
@click.option("--all", "everything", is_flag=True, help="every unknown message (of --account)")
@click.option("--note", default="", help="why, recorded in each message's history")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def reconcile(
    ctx: click.Context,
    ids: tuple[str, ...],
    account: str | None,
    decision: str | None,
    everything: bool,
    note: str,
    as_json: bool,
) -> None:
    """List messages held as unknown, or resolve them: --resend, --mark-sent or --mark-failed."""
    from producer.api import Producer
    from producer.reconcile import held, resolve

    producer = Producer(_settings(ctx))
    try:
        if decision is None:
            rows = held(producer, account)
            if as_json:
                click.echo(
                    json.dumps([{**r.__dict__, "since": iso(r.since)} for r in rows], indent=2)
                )
                return
            click.echo(f"{counted(len(rows), 'message')} held as unknown")
            for r in rows:
                click.echo(f"  {r.id}  {r.account}  since {iso(r.since)}  {r.reason}")
            return
        if everything:
            ids = tuple(r.id for r in held(producer, account, limit=10**9))
        if not ids:
            raise click.UsageError("name the message ids to resolve, or --all")
        done = resolve(producer, ids, decision, note)  # type: ignore[arg-type]
        moved = sum(done.values())
        click.echo(f"{moved} resolved ({decision}); {len(done) - moved} were no longer unknown")
    finally:
        producer.close()


def _audience() -> None:
    from salvo.audience import inbound, optout

    cli.add_command(optout)
    cli.add_command(inbound)


_audience()


def main() -> None:
    """Console entry point."""
    cli(prog_name="salvo")


if __name__ == "__main__":
    main()
