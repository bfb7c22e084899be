"""`briefing health`: is the service doing its job? One exit code for a monitor.

Three checks, each a line of the report:
- the database answers;
- feeds are being read: some enabled feed was read successfully within the last hours
  (`feeds_within`: `briefing health` asks for 26 hours unless told otherwise, which suits a
  daily cron run; `briefing serve` can be held to a few poll intervals);
- the latest edition that is due went out: the edition of the last day whose
  `schedule.edition_at` plus `schedule.misfire_grace_minutes` has passed was built, has
  stories, and reached every reader who should have it. A reader who unsubscribed, or whose
  mailbox is held back after refusing editions for good, is not owed one; an address that
  refused this edition for good (a 5xx) was dealt with, and `briefing subscribers` lists it.
  Without an SMTP server, a digest in the outbox folder counts as sent.

Nothing is fetched or sent: a monitor may run it every minute, beside a running service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from briefing.config import Config
from briefing.digest.deliver import HOLD_AFTER, RETRY_REFUSED_AFTER, outbox_name
from briefing.errors import BriefingError
from briefing.store import Store

DONE = ("sent", "failed_permanent")  # deliveries the service no longer owes


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'problem'}: {self.text}"


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def lines(self) -> list[str]:
        return [check.line() for check in self.checks]


def check_health(config: Config, now: datetime, feeds_within: timedelta) -> HealthReport:
    try:
        store = Store(config.database_url)
    except BriefingError as exc:
        message = " ".join(str(exc).split())  # a driver's message may run over lines
        return HealthReport((Check(False, f"database: {message}"),))
    try:
        return HealthReport(
            (
                Check(True, "database answers"),
                feeds_check(config, store, now, feeds_within),
                edition_check(config, store, now),
            )
        )
    finally:
        store.close()


def feeds_check(config: Config, store: Store, now: datetime, within: timedelta) -> Check:
    enabled = [feed.name for feed in config.feeds if feed.enabled]
    if not enabled:
        return Check(False, "feeds: no feed is enabled in feeds.yaml")
    states = {state["name"]: state for state in store.all_feed_states()}
    successes = [when for name in enabled if (when := states.get(name, {}).get("last_success"))]
    failing = sum(1 for name in enabled if states.get(name, {}).get("consecutive_failures"))
    failing_note = f"; {failing} failing now (see briefing feeds)" if failing else ""
    if not successes:
        return Check(False, f"feeds: none of {len(enabled)} has ever been read{failing_note}")
    latest = max(successes)
    recent = sum(1 for when in successes if now - when <= within)
    text = (
        f"feeds: {recent} of {len(enabled)} read within {_hours(within)}, "
        f"the latest {_ago(now - latest)} ago{failing_note}"
    )
    return Check(recent > 0, text if recent else f"{text}: is the service running?")


def edition_check(config: Config, store: Store, now: datetime) -> Check:
    schedule = config.settings.schedule
    day = due_day(config, now)
    due = f"due {schedule.edition_at.isoformat(timespec='minutes')} {config.settings.timezone}"
    name = f"edition {day.isoformat()} ({due}, {schedule.misfire_grace_minutes} min grace)"
    stories = store.edition_stories(day.isoformat())
    if stories is None:
        return Check(False, f"{name}: not built")
    if not stories:
        return Check(False, f"{name}: built without stories, so nothing was sent")
    owed = owed_readers(config, store, day.isoformat(), now)
    readers = len(config.subscribers)
    if not owed:
        return Check(True, f"{name}: sent to every reader it was owed ({readers} subscribers)")
    shown = ", ".join(f"{email} ({why})" for email, why in owed[:5])
    more = f" and {len(owed) - 5} more" if len(owed) > 5 else ""
    return Check(False, f"{name}: not sent to {len(owed)} of {readers}: {shown}{more}")


def due_day(config: Config, now: datetime) -> date:
    """The last day whose edition time, plus the grace a late start still gets, has passed."""
    schedule = config.settings.schedule
    local = now.astimezone(config.zone)
    today_due = datetime.combine(local.date(), schedule.edition_at, tzinfo=config.zone)
    grace = timedelta(minutes=schedule.misfire_grace_minutes)
    return local.date() if local >= today_due + grace else local.date() - timedelta(days=1)


def owed_readers(
    config: Config, store: Store, edition_id: str, now: datetime
) -> list[tuple[str, str]]:
    """(address, why) of each subscriber still owed this edition: never tried, failed for
    now, or reserved by a run that is sending it (or died doing so)."""
    status = _delivery_status(config, store, edition_id)
    gone = store.unsubscribed(s.email for s in config.subscribers)
    # As delivery decides it: held back, and so not owed, after HOLD_AFTER refusals.
    held = store.refused_for_good(edition_id, now - RETRY_REFUSED_AFTER, HOLD_AFTER)
    owed = []
    for subscriber in config.subscribers:
        email = subscriber.email
        state = status.get(email)
        if state in DONE or email.lower() in gone or (state is None and email in held):
            continue
        owed.append((email, _OWED_BECAUSE.get(state, str(state))))
    return owed


def _delivery_status(config: Config, store: Store, edition_id: str) -> dict[str, str]:
    """Each subscriber's delivery status for the edition; without an SMTP server, "sent"
    for each digest the outbox folder holds (writing it there records no delivery)."""
    if config.settings.smtp.host:
        return store.delivery_status(edition_id)
    folder = config.outbox_dir / edition_id
    return {
        s.email: "sent"
        for s in config.subscribers
        if (folder / f"{outbox_name(s.email)}.eml").is_file()
    }


_OWED_BECAUSE = {
    None: "not tried",
    "failed": "failed for now, to be retried",
    "reserved": "being sent, or its run died",
}


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _ago(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // (24 * 60)} days"
