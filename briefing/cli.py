"""The command line: thin; turns errors into clean messages and documented exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from briefing import __version__
from briefing.config import Config, load_config
from briefing.errors import BriefingError, ConfigError, LockedError
from briefing.logs import setup_logging
from briefing.pipeline import EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL

log = logging.getLogger("briefing")

EXIT_LOCKED = 4
DEFAULT_CONFIG = "config/briefing.yaml"
_LOCK_TTL = timedelta(hours=2)  # a crashed run's lock expires after this

Handler = Callable[[argparse.Namespace], int]


def cmd_run(args: argparse.Namespace) -> int:
    from briefing.pipeline import run_edition
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        with store.lock("edition", ttl=_LOCK_TTL):
            report = run_edition(config)
    finally:
        store.close()
    for line in report.lines():
        print(line)
    log.info(
        "run finished",
        extra={
            "edition": report.edition_id,
            "feeds_ok": report.ingest.feeds_ok,
            "feeds_failed": report.ingest.feeds_failed,
            "articles_new": report.ingest.new_articles,
            "stories": report.stories,
            "summaries": report.summaries,
            "digests_sent": len(report.delivery.sent),
            "digests_failed": len(report.delivery.failed),
            "seconds": report.seconds,
            "exit_code": report.exit_code,
        },
    )
    return report.exit_code


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    enabled = sum(1 for f in config.feeds if f.enabled)
    print(f"{config.path}: ok")
    print(f"  feeds: {len(config.feeds)} ({enabled} enabled)")
    print(f"  sections: {', '.join(config.settings.sections)}")
    print(f"  subscribers: {len(config.subscribers)}")
    print(f"  database: {config.database_url}")
    smtp = config.settings.smtp
    delivery = f"SMTP {smtp.host}:{smtp.port}" if smtp.host else f"outbox {config.outbox_dir}"
    print(f"  delivery: {delivery}")
    return EXIT_OK


def cmd_feeds(args: argparse.Namespace) -> int:
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        states = {s["name"]: s for s in store.all_feed_states()}
    finally:
        store.close()
    rows = [("feed", "last success", "new", "failures", "last error")]
    for feed in config.feeds:
        state = states.get(feed.name, {})
        success = state.get("last_success")
        rows.append(
            (
                feed.name + ("" if feed.enabled else " (disabled)"),
                success.astimezone(config.zone).strftime("%Y-%m-%d %H:%M") if success else "never",
                str(state.get("new_items_last_run", 0)),
                str(state.get("consecutive_failures", 0)),
                (state.get("disabled_reason") or state.get("last_error") or "")[:80],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    failing = any(states.get(f.name, {}).get("consecutive_failures") for f in config.feeds)
    return EXIT_PARTIAL if failing else EXIT_OK


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
            edition, _ = build_edition(config, store, utcnow())
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


def cmd_send(args: argparse.Namespace) -> int:
    """Deliver an edition already built; whoever has it already is skipped."""
    from briefing.digest.deliver import deliver
    from briefing.digest.edition import load_edition
    from briefing.digest.render import render_digest
    from briefing.pipeline import EXIT_NOTHING_SENT, summarize
    from briefing.store import Store

    config = load_config(args.config)
    store = Store(config.database_url)
    try:
        edition = load_edition(config, store, args.edition, summarize)
        digests = [render_digest(edition, s, config) for s in config.subscribers]
        report = deliver(digests, config, store)
    finally:
        store.close()
    where = f" in {report.outbox}" if report.outbox else ""
    print(f"edition {edition.id}: {len(edition.stories)} stories")
    print(
        f"digests {'written' if report.outbox else 'sent'}: {len(report.sent)}{where}"
        + (f", already sent: {len(report.skipped)}" if report.skipped else "")
        + (f", failed: {len(report.failed)}" if report.failed else "")
    )
    for who, why in report.failed:
        print(f"  recipient {who}: {why}")
    if config.subscribers and not (report.sent or report.skipped):
        return EXIT_NOTHING_SENT
    return EXIT_PARTIAL if report.failed else EXIT_OK


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
    command("check-config", cmd_check_config, "validate the YAML configuration and summarize it")
    command("feeds", cmd_feeds, "show the health of every feed")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        return args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except LockedError as exc:
        print(f"briefing: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except BriefingError as exc:
        print(f"briefing: {exc}", file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        return 130
