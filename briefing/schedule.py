"""`briefing serve`: APScheduler 3.x polls feeds through the day and builds the edition.

The scheduler only adds timing: both jobs call the same functions as `briefing run`, and
exactly-once delivery lives in the store, so a second scheduler never sends twice.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from briefing.config import Config, Schedule, load_config
from briefing.errors import BriefingError, ConfigError
from briefing.health import owed_readers
from briefing.ingest import ingest
from briefing.pipeline import run_edition
from briefing.store import Store, utcnow

log = logging.getLogger(__name__)


class Service:
    """Holds the last good configuration; re-reads it before every job."""

    def __init__(self, config_path: Path, config: Config) -> None:
        self.config_path = config_path
        self.config = config
        self.scheduler = BackgroundScheduler(
            timezone=config.zone,
            job_defaults={
                "coalesce": True,  # many missed polls run once, not in a burst
                "max_instances": 1,  # a slow poll is never overlapped by the next one
                "misfire_grace_time": config.settings.schedule.misfire_grace_minutes * 60,
            },
        )

    def reload(self) -> Config:
        """Read the configuration again; a bad edit is logged and the last good one kept."""
        try:
            fresh = load_config(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("configuration not reloaded: %s", problem)
            return self.config
        if fresh.settings.schedule != self.config.settings.schedule:
            self._schedule(fresh.settings.schedule, fresh)
        self.config = fresh
        return fresh

    def poll(self) -> None:
        config = self.reload()
        store = Store(config.database_url)
        try:
            report = ingest(config, store, utcnow())
        finally:
            store.close()
        log.info(
            "poll finished: %d feeds ok, %d failed, %d new articles",
            report.feeds_ok,
            report.feeds_failed,
            report.new_articles,
            extra={"job": "poll", "articles_new": report.new_articles},
        )

    def edition(self) -> None:
        config = self.reload()
        try:
            report = run_edition(config)
        except BriefingError as exc:
            log.error("edition not built: %s", exc)
            return
        log.info("edition %s: %s", report.edition_id, "; ".join(report.lines()[1:]))

    def _edition_missed(
        self, schedule: Schedule, config: Config, now: datetime | None = None
    ) -> bool:
        """True when today's edition time passed within the grace period and today's
        edition has not reached every subscriber owed it (never built, or the run died
        before or while delivering): a service (re)started at 06:35 still sends the 06:30
        edition, to those who have not had it."""
        now = (now or utcnow()).astimezone(config.zone)
        due = datetime.combine(now.date(), schedule.edition_at, tzinfo=config.zone)
        if not timedelta(0) <= now - due <= timedelta(minutes=schedule.misfire_grace_minutes):
            return False
        store = Store(config.database_url)
        try:
            edition_id = now.date().isoformat()
            if store.edition_stories(edition_id) is None:
                return True
            return bool(owed_readers(config, store, edition_id, now))  # as `briefing health`
        finally:
            store.close()

    def _schedule(self, schedule: Schedule, config: Config, *, catch_up: bool = False) -> None:
        at = schedule.edition_at
        self.scheduler.add_job(
            self.poll,
            IntervalTrigger(minutes=schedule.poll_every_minutes, timezone=config.zone),
            id="poll",
            name="poll feeds",
            replace_existing=True,
            next_run_time=utcnow(),
        )
        first_run: dict[str, datetime] = {}
        if catch_up and self._edition_missed(schedule, config):
            log.info("today's edition was due at %s and has not been built: building it now", at)
            first_run["next_run_time"] = utcnow()
        self.scheduler.add_job(
            self.edition,
            CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=config.zone),
            id="edition",
            name="build and send the edition",
            replace_existing=True,
            **first_run,
        )
        log.info(
            "polling every %g minutes; edition daily at %s %s",
            schedule.poll_every_minutes,
            at.isoformat(timespec="seconds"),
            config.settings.timezone,
        )

    def run_until_stopped(self) -> int:
        """Run until SIGTERM or SIGINT; the job in flight finishes before exit."""
        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping after the job in flight", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self._schedule(self.config.settings.schedule, self.config, catch_up=True)
        self.scheduler.start()
        stop.wait()
        self.scheduler.shutdown(wait=True)
        log.info("stopped")
        return 0


def serve(config_path: Path) -> int:
    return Service(config_path, load_config(config_path)).run_until_stopped()
