"""The command line: thin; turns errors into clean messages and documented exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from briefing import __version__, progress
from briefing.config import Config, load_config
from briefing.errors import (
    EXIT_CONFIG,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    BriefingError,
    ConfigError,
    LockedError,
)
from briefing.logs import setup_logging

if TYPE_CHECKING:
    from briefing.digest.mailbox import MailboxReport

log = logging.getLogger("briefing")

# The container sets BRIEFING_CONFIG to its read-only config mount.
DEFAULT_CONFIG = os.environ.get("BRIEFING_CONFIG", "config/briefing.yaml")

Handler = Callable[[argparse.Namespace], int]


def cmd_run(args: argparse.Namespace) -> int:
    from briefing.pipeline import run_edition

    report = run_edition(load_config(args.config))
    for line in report.lines():
        print(line)
    log.info(
        "run finished",
        extra={
            "summary": True,
            "edition": report.edition_id,
            "feeds_ok": report.ingest.feeds_ok,
            "feeds_failed": report.ingest.feeds_failed,
            "articles_new": report.ingest.new_articles,
            "stories": report.stories,
            "summaries": report.summaries,
            "digests_sent": len(report.delivery.sent),
            "digests_failed": len(report.delivery.failed),
            "digests_unsubscribed": len(report.delivery.unsubscribed),
            **_mailbox_fields(report.mailbox),
            "seconds": report.seconds,
            "exit_code": report.exit_code,
        },
    )
    return report.exit_code


def _mailbox_fields(report: MailboxReport | None) -> dict[str, object]:
    if report is None:
        return {}
    return {
        "mailbox_unsubscribed": len(report.unsubscribed),
        "mailbox_complaints": len(report.complained),
        "mailbox_bounced": len(report.bounced),
        "mailbox_error": report.error,
    }


def cmd_mailbox(args: argparse.Namespace) -> int:
    """Act on the bounces, spam complaints and unsubscribe mails in the mailbox now (`run`
    and `send` do it too, before sending)."""
    from briefing.digest.mailbox import read_mailbox
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        report = read_mailbox(config, store)
    finally:
        store.close()
    if report is None:
        print(f"no mailbox to read: set mailbox.host in {config.path}")
        return EXIT_CONFIG
    for line in report.lines():
        print(line)
    code = EXIT_PARTIAL if report.error else EXIT_OK
    fields = {"summary": True, **_mailbox_fields(report), "exit_code": code}
    log.info("mailbox finished", extra=fields)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from briefing.schedule import serve

    return serve(Path(args.config))


def cmd_fetch(args: argparse.Namespace) -> int:
    from briefing.ingest import ingest
    from briefing.store import Store, utcnow

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        report = ingest(config, store, utcnow())
    finally:
        store.close()
    print(f"feeds read: {report.feeds_ok} ok, {report.feeds_failed} failed")
    print(f"articles new: {report.new_articles}")
    for line in report.feed_lines():
        print(line)
    code = EXIT_PARTIAL if report.feeds_failed else EXIT_OK
    log.info(
        "fetch finished",
        extra={
            "summary": True,
            "feeds_ok": report.feeds_ok,
            "feeds_failed": report.feeds_failed,
            "articles_new": report.new_articles,
            "exit_code": code,
        },
    )
    return code


def cmd_try_feed(args: argparse.Namespace) -> int:
    """Read a feed once as a run would and say what it gives, with a feeds.yaml entry for it;
    nothing is stored."""
    from briefing.ingest.probe import probe_feed
    from briefing.store import utcnow

    config = load_config(args.config)
    section = args.section or next(iter(config.settings.sections))
    if section not in config.settings.sections:
        known = ", ".join(config.settings.sections)
        raise BriefingError(f"no section {section!r} in {config.path} (sections: {known})")
    probe = probe_feed(config, args.url, utcnow())
    for line in probe.lines(config.zone):
        print(line)
    print("feeds.yaml entry (edit the name; `source` names the publisher):")
    for line in probe.feeds_yaml(section):
        print(line)
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    enabled = sum(1 for f in config.feeds if f.enabled)
    print(f"{config.path}: ok")
    print(f"  feeds: {len(config.feeds)} ({enabled} enabled)")
    print(f"  sections: {', '.join(config.settings.sections)}")
    print(f"  subscribers: {len(config.subscribers)}")
    schedule = config.settings.schedule
    print(
        f"  schedule: edition daily at {schedule.edition_at.isoformat(timespec='minutes')}"
        f"{schedule.edition_at.strftime(':%S') if schedule.edition_at.second else ''} "
        f"{config.settings.timezone} (briefing serve), "
        f"feeds polled every {schedule.poll_every_minutes:g} minutes"
    )
    print(f"  database: {config.database_url}")
    smtp = config.settings.smtp
    delivery = f"SMTP {smtp.host}:{smtp.port}" if smtp.host else f"outbox {config.outbox_dir}"
    print(f"  delivery: {delivery}")
    box = config.settings.mailbox
    read = f"IMAP {box.host}:{box.port} {box.folder}" if box.host else "not read (no mailbox.host)"
    print(f"  mailbox (bounces, complaints, unsubscribe mails): {read}")
    return EXIT_OK


def cmd_feeds(args: argparse.Namespace) -> int:
    """Feed health as a table. Exit 1 (partial) when an enabled feed's last attempt failed
    (a 410-disabled feed included: it needs an editor), else 0."""
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        states = {s["name"]: s for s in store.all_feed_states()}
    finally:
        store.close()
    rows = [("name", "last success", "new items last run", "consecutive failures", "last error")]
    for feed in config.feeds:
        state = states.get(feed.name, {})
        success = state.get("last_success")
        rows.append(
            (
                feed.name + ("" if feed.enabled else " (disabled)"),
                success.astimezone(config.zone).strftime("%Y-%m-%d %H:%M") if success else "never",
                str(state.get("new_items_last_run", 0)),
                str(state.get("consecutive_failures", 0)),
                _feed_problem(state),
            )
        )
    _print_table(rows)
    failing = any(
        states.get(f.name, {}).get("consecutive_failures") for f in config.feeds if f.enabled
    )
    return EXIT_PARTIAL if failing else EXIT_OK


def cmd_subscribers(args: argparse.Namespace) -> int:
    """Delivery health per subscriber as a table. Exit 1 (partial) while a subscriber's
    latest delivery failed or its mailbox is held back (an address to fix), else 0."""
    from briefing.digest.deliver import HOLD_AFTER, RETRY_REFUSED_AFTER
    from briefing.store import Store, utcnow

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        latest = store.latest_deliveries()
        held = store.refused_for_good(None, utcnow() - RETRY_REFUSED_AFTER, HOLD_AFTER)
        gone = store.unsubscribed(s.email for s in config.subscribers)
    finally:
        store.close()
    rows = [("email", "last sent", "latest edition", "status", "problem")]
    failing = False
    for subscriber in config.subscribers:
        row = latest.get(subscriber.email, {})
        status, problem = row.get("status", ""), row.get("error") or ""
        if subscriber.email.lower() in gone:  # what was wrong before no longer matters
            when, via = gone[subscriber.email.lower()]
            status, problem = "unsubscribed", f"on {when.date().isoformat()} ({via})"
        elif subscriber.email in held:
            error, when = held[subscriber.email]
            until = (when + RETRY_REFUSED_AFTER).date().isoformat()
            status, problem = "held back", f"until {until}: {error}"
        failing = failing or status in ("held back", "failed", "failed_permanent")
        rows.append(
            (
                subscriber.email,
                row.get("last_sent") or "never",
                row.get("edition_id") or "-",
                status or "-",
                problem[:100],
            )
        )
    _print_table(rows)
    return EXIT_PARTIAL if failing else EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    """Whether the service does its job: the database answers, feeds are being read, and
    the edition that is due went out. Exit 1 with a `problem:` line for each that fails."""
    from datetime import timedelta

    from briefing.health import check_health
    from briefing.store import utcnow

    config = load_config(args.config)
    report = check_health(config, utcnow(), timedelta(hours=args.feeds_within))
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _hours_above_zero(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of hours") from None
    if not hours > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of hours above 0")
    return hours


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows as columns padded to their widest cell, the first row as the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _feed_problem(state: dict) -> str:
    """The last column of `briefing feeds`: why a feed is disabled (in full: it says how to
    read the feed again), else its last error, else the warning of its last read (a feed
    read despite broken XML, items cut or dated in the future: in full, for the editor)."""
    if state.get("disabled_reason"):
        return f"disabled: {state['disabled_reason']}"
    if state.get("last_error"):
        return str(state["last_error"])[:80]
    return f"warning: {state['last_warning']}" if state.get("last_warning") else ""


def cmd_clean(args: argparse.Namespace) -> int:
    """Show what the boilerplate cleaner removes: JSON lines in, JSON lines out."""
    from briefing.ingest.clean import clean_jsonl, rules_for

    feeds, extra = {}, None
    if args.config:
        config = load_config(args.config)
        feeds = {f.name: f.boilerplate for f in config.feeds}
        name = config.settings.ingest.boilerplate_file
        extra = str(config.base_dir / name) if name else None
    with (
        open(args.input, encoding="utf-8") as source,
        open(args.output, "w", encoding="utf-8") as target,
    ):
        count = clean_jsonl(source, target, lambda s: rules_for(s, feeds.get(s, ()), extra))
    print(f"{args.output}: {count} articles cleaned")
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from briefing.digest.deliver import text_as_html
    from briefing.digest.edition import load_edition
    from briefing.digest.render import render_digest
    from briefing.pipeline import build_edition, summarize
    from briefing.store import Store, utcnow

    config = load_config(args.config)
    subscriber = _subscriber(config, args.subscriber)
    store = Store(config.database_url)
    try:
        if args.edition:  # one already built: what `briefing send` would send
            edition = load_edition(config, store, args.edition, summarize)
        else:
            edition, _ = build_edition(config, store, utcnow(), remember_stories=False)
    finally:
        store.close()
    digest = render_digest(edition, subscriber, config)
    if args.output.endswith(".txt"):
        content = digest.text
    else:
        content = digest.html or text_as_html(digest.text)
    Path(args.output).write_text(content, encoding="utf-8")
    print(f"{args.output}: {len(digest.story_ids)} stories for {subscriber.email}")
    return EXIT_OK


def cmd_cluster(args: argparse.Namespace) -> int:
    from briefing.cluster import cluster_jsonl

    settings = load_config(args.config).settings.cluster if args.config else None
    count = cluster_jsonl(Path(args.input), Path(args.output), settings)
    print(f"{args.output}: {count} articles assigned to stories")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from briefing.config import Abstractive
    from briefing.summarize.abstractive import models_fetch, models_info

    if args.model is not None and not Path(args.config).exists():
        settings = Abstractive()  # a Docker build has no configuration yet: defaults
    else:
        settings = load_config(args.config).settings.summarizer.abstractive
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    if args.action == "fetch":
        print(f"{settings.model}: {models_fetch(settings)}")
    else:
        print(models_info(settings))
    return EXIT_OK


def cmd_summarize(args: argparse.Namespace) -> int:
    from briefing.summarize import summarize_jsonl

    count = summarize_jsonl(
        Path(args.input), Path(args.output), sentences=args.sentences, words=args.words
    )
    print(f"{args.output}: {count} summaries")
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    """Deliver an edition already built, as it was built; whoever has it already is
    skipped, and its stories then count as told."""
    from briefing.pipeline import send_edition

    config = load_config(args.config)
    edition, report, mailbox = send_edition(config, args.edition)
    print(f"edition {edition.id}: {len(edition.stories)} stories")
    print("\n".join([*(mailbox.lines() if mailbox else []), *report.lines()]))
    code = report.exit_code(len(config.subscribers))
    if code == EXIT_OK and mailbox is not None and mailbox.error:
        code = EXIT_PARTIAL
    log.info(
        "send finished",
        extra={
            "summary": True,
            "edition": edition.id,
            "stories": len(edition.stories),
            "digests_sent": len(report.sent),
            "digests_already_sent": len(report.skipped),
            "digests_failed": len(report.failed),
            "digests_unsubscribed": len(report.unsubscribed),
            **_mailbox_fields(mailbox),
            "exit_code": code,
        },
    )
    return code


def cmd_unsubscribe(args: argparse.Namespace) -> int:
    """Record (or with --undo, forget) that addresses want no more digests: for requests
    that reach an editor by mail rather than through the unsubscribe page."""
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        for address in args.address:
            if args.undo:
                back = store.resubscribe(address)
                print(f"{address}: " + ("subscribed again" if back else "was not unsubscribed"))
                continue
            when, first = store.unsubscribe(address, "editor")
            print(
                f"{address}: unsubscribed, no digest from the next edition"
                if first
                else f"{address}: already unsubscribed on {when.date().isoformat()}"
            )
    finally:
        store.close()
    return EXIT_OK


def cmd_unsubscribe_server(args: argparse.Namespace) -> int:
    """Serve the page unsubscribe links open, until stopped (SIGTERM or Ctrl-C)."""
    import signal

    from briefing.digest.unsubscribe import make_page_server
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        server = make_page_server(config, store, args.host, args.port)
        # docker stop sends SIGTERM: finish as on Ctrl-C, closing the store.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        host, port = server.server_address[:2]
        log.info("unsubscribe page listening on http://%s:%s/", host, port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("unsubscribe page stopped")
        finally:
            server.server_close()
    finally:
        store.close()
    return EXIT_OK


def _subscriber(config: Config, email: str):
    for subscriber in config.subscribers:
        if subscriber.email.lower() == email.lower():
            return subscriber
    raise BriefingError(f"no subscriber {email!r} in {config.settings.subscribers_file}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefing",
        description="An Arabic morning news briefing: many feeds in, one email per subscriber out.",
    )
    parser.add_argument("--version", action="version", version=f"briefing {__version__}")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format (stderr)"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Handler, help_text: str, *, config: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if config:
            sub.add_argument(
                "--config",
                default=DEFAULT_CONFIG,
                help=f"briefing.yaml (default: {DEFAULT_CONFIG})",
            )
        sub.set_defaults(handler=handler)
        return sub

    command("run", cmd_run, "build and deliver one edition now, then exit (for cron)")
    command("serve", cmd_serve, "keep running: poll feeds all day, build the edition at its time")
    command("fetch", cmd_fetch, "poll every feed once and store new articles (no edition)")
    command("check-config", cmd_check_config, "validate the YAML configuration and summarize it")
    try_feed = command(
        "try-feed", cmd_try_feed, "read a feed once and say what it gives, before adding it"
    )
    try_feed.add_argument("url", help="the feed's URL")
    try_feed.add_argument("--section", help="its section in feeds.yaml (default: the first)")
    command("feeds", cmd_feeds, "show the health of every feed")
    command(
        "subscribers", cmd_subscribers, "show each subscriber's deliveries: last sent, failures"
    )
    health = command(
        "health",
        cmd_health,
        "check that the database answers, feeds are read and the due edition went out "
        "(exit 1 on a problem: for a monitor or a container health check)",
    )
    health.add_argument(
        "--feeds-within",
        type=_hours_above_zero,
        default=26,
        metavar="HOURS",
        help="a feed must have been read this recently (default 26: a daily run; "
        "for briefing serve, about 3 times its poll interval)",
    )
    unsubscribe = command(
        "unsubscribe", cmd_unsubscribe, "stop (or with --undo, restart) digests to addresses"
    )
    unsubscribe.add_argument("address", nargs="+", help="subscriber email addresses")
    unsubscribe.add_argument(
        "--undo", action="store_true", help="the reader asked to come back: send again"
    )
    command(
        "mailbox",
        cmd_mailbox,
        "act on bounces, spam complaints and unsubscribe mails in the mailbox now (run does too)",
    )
    page = command(
        "unsubscribe-server",
        cmd_unsubscribe_server,
        "serve the page unsubscribe links open (one-click included), until stopped",
    )
    page.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (in a container: 0.0.0.0)"
    )
    page.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    clean = command(
        "clean",
        cmd_clean,
        "show what the boilerplate cleaner removes from articles (JSON lines in and out)",
        config=False,
    )
    clean.add_argument(
        "--input", required=True, help='JSON lines: "id", "text", "title"?, "source"?'
    )
    clean.add_argument("--output", required=True, help='JSON lines: "id", "text", "removed"')
    clean.add_argument("--config", help="briefing.yaml, for per-feed rules (source = feed name)")
    preview = command(
        "preview", cmd_preview, "render one subscriber's digest to a file, without sending"
    )
    preview.add_argument("--subscriber", required=True, help="the subscriber's email address")
    preview.add_argument(
        "--output", required=True, help="file to write: HTML, or the text part if it ends in .txt"
    )
    preview.add_argument("--edition", help="an edition already built (default: build one now)")
    send = command("send", cmd_send, "send an edition already built (each subscriber once)")
    send.add_argument("--edition", help="edition id, e.g. 2026-11-29 (default: the latest)")
    cluster = command(
        "cluster", cmd_cluster, "group JSON-lines articles into stories", config=False
    )
    cluster.add_argument("--input", required=True, help="JSON lines with id, title, text")
    cluster.add_argument("--output", required=True, help="JSON lines {id, story} to write")
    cluster.add_argument("--config", help="take the cluster settings from this briefing.yaml")
    models = command("models", cmd_models, "show or download the abstractive summarization model")
    models.add_argument(
        "action",
        choices=("info", "fetch"),
        help="info: what is configured and "
        "whether it is available here; fetch: download it into the cache",
    )
    models.add_argument("--model", help="a hub id or folder instead of the configured one")
    summarize = command(
        "summarize",
        cmd_summarize,
        "extractive summaries of JSON lines (id, text, optional title)",
        config=False,
    )
    summarize.add_argument("--input", required=True, help="JSON lines with id and text")
    summarize.add_argument("--output", required=True, help="JSON lines {id, summary} to write")
    budget = summarize.add_mutually_exclusive_group()
    budget.add_argument("--sentences", type=int, help="sentences per summary (default 3)")
    budget.add_argument("--words", type=int, help="or a budget in words")
    return parser


# These end with one summary line in the log, also when they fail (README, "Logs").
SUMMARIZED = ("run", "send", "fetch", "mailbox")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    progress.set_enabled(args.log_format == "text")
    # Text: errors as plain lines an editor can read; JSON: every stderr line is a record.
    report = _error_printer(args.log_format == "json")
    try:
        return args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            report(f"config error: {problem}", {"problem": problem})
        code, error = EXIT_CONFIG, f"configuration error ({len(exc.problems)} found)"
    except LockedError as exc:
        report(f"briefing: {exc}", {})
        code, error = EXIT_LOCKED, str(exc)
    except BriefingError as exc:
        report(f"briefing: {exc}", {})
        code, error = EXIT_PARTIAL, str(exc)
    except KeyboardInterrupt:
        code, error = 130, "interrupted"
    except Exception as exc:  # a bug: its traceback goes to the log (in JSON, inside the record)
        log.exception("unexpected error in briefing %s: %s", args.command, exc)
        code, error = EXIT_PARTIAL, f"unexpected error: {exc!r}"
    if args.command in SUMMARIZED:
        log.error(
            "%s failed",
            args.command,
            extra={"summary": True, "error": error, "exit_code": code},
        )
    return code


def _error_printer(json_mode: bool) -> Callable[[str, dict[str, object]], None]:
    def report(message: str, fields: dict[str, object]) -> None:
        if json_mode:
            log.error(message, extra=fields)
        else:
            print(message, file=sys.stderr)

    return report
