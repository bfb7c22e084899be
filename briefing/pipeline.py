"""One edition, stage after stage. Besides passing records along, only the glue that decides
which stories make this edition (window, already sent, updated, per-section cap) lives here."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from briefing import cluster
from briefing.config import Abstractive, Config
from briefing.digest.deliver import DeliveryReport, deliver
from briefing.digest.render import render_digest
from briefing.errors import EXIT_OK, EXIT_PARTIAL
from briefing.ingest import IngestReport, ingest
from briefing.models import Article, Edition, EditionStory, Story, Summary
from briefing.progress import track
from briefing.store import Store, StoryHistory, utcnow
from briefing.summarize.abstractive import (
    AbstractiveSummarizer,
    load_or_warn,
    summarize_stories,
)
from briefing.summarize.extractive import summarize_story

log = logging.getLogger(__name__)

# A crashed run's lock expires after this; no healthy edition takes this long.
EDITION_LOCK_TTL = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class RunReport:
    edition_id: str
    ingest: IngestReport
    stories: int
    summaries: dict[str, int]
    delivery: DeliveryReport
    subscribers: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all went well, 1 partial (a feed or recipient failed), 3 nothing could be sent."""
        delivery = self.delivery.exit_code(self.subscribers)
        if delivery == EXIT_OK and self.ingest.feeds_failed:
            return EXIT_PARTIAL
        return delivery

    def lines(self) -> list[str]:
        """The short human report printed after a run."""
        d = self.delivery
        lines = [
            f"edition {self.edition_id}",
            f"feeds read: {self.ingest.feeds_ok} ok, {self.ingest.feeds_failed} failed"
            + (f", {self.ingest.feeds_skipped} skipped" if self.ingest.feeds_skipped else ""),
            f"articles new: {self.ingest.new_articles}",
            f"stories: {self.stories}",
            "summaries: " + ", ".join(f"{v} {k}" for k, v in self.summaries.items() if v),
            d.lines()[0],
        ]
        lines += [f"  feed {o.feed}: {o.error}" for o in self.ingest.outcomes if o.error]
        lines += [
            f"  feed {o.feed}: skipped, {o.skipped}" for o in self.ingest.outcomes if o.skipped
        ]
        lines += d.lines()[1:]
        return lines


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)


def run_edition(config: Config, *, now: datetime | None = None, send: bool = True) -> RunReport:
    """Ingest, cluster, summarize, render and deliver one edition, then prune old data.

    Holds the store's edition lock throughout: a second run started meanwhile gets
    LockedError instead of building (and sending) the same edition again.
    """
    now = now or utcnow()
    timer = _Timer()
    store = Store(config.database_url)
    try:
        with store.lock("edition", ttl=EDITION_LOCK_TTL):
            with timer.stage("ingest"):
                ingested = ingest(config, store, now)
            edition, summary_counts = build_edition(config, store, now, timer)
            store.save_edition(edition.id, [s.story.id for s in edition.stories], now)
            with timer.stage("render"):
                subscribers = track(config.subscribers, "render", len(config.subscribers))
                digests = [render_digest(edition, s, config) for s in subscribers]
            with timer.stage("deliver"):
                delivery = deliver(digests, config, store) if send else DeliveryReport()
            if delivery.sent or delivery.skipped:
                # Stories count as told only once the edition reached someone: after a morning
                # when no subscriber could be reached, the next edition still carries them.
                counts = {s.story.id: len(s.story.articles) for s in edition.stories}
                store.mark_in_edition(edition.id, counts)
            pruned = store.prune(now - timedelta(days=config.settings.retention_days))
            if any(pruned.values()):
                log.info("retention: pruned %s", pruned)
    finally:
        store.close()
    return RunReport(
        edition_id=edition.id,
        ingest=ingested,
        stories=len(edition.stories),
        summaries=summary_counts,
        delivery=delivery,
        subscribers=len(config.subscribers) if send else 0,
        seconds=timer.seconds,
    )


def build_edition(
    config: Config,
    store: Store,
    now: datetime,
    timer: _Timer | None = None,
    *,
    remember_stories: bool = True,
) -> tuple[Edition, dict[str, int]]:
    """Cluster the window's articles into ranked stories and summarize them.

    `remember_stories=False` (a preview) leaves the stored story assignments as they were, so
    looking at tomorrow's digest early changes nothing the real run will see.
    """
    timer = timer or _Timer()
    edition_id = now.astimezone(config.zone).date().isoformat()
    with timer.stage("cluster"):
        stories = cluster_window(config, store, now, remember=remember_stories)
        stories = select_for_edition(
            stories, store.edition_history(s.id for s in stories), edition_id
        )
        stories = cluster.rank_stories(stories, now, list(config.settings.sections))
        stories = _cap_per_section(stories, config.settings.max_stories)
    with timer.stage("summarize"):
        summaries, counts = summarize(config, store, stories)
    edition = Edition(
        id=edition_id,
        day=now.astimezone(config.zone).date(),
        created=now,
        stories=tuple(EditionStory(story=s, summary=summaries[s.id]) for s in stories),
    )
    return edition, counts


def cluster_window(
    config: Config, store: Store, now: datetime, *, remember: bool = True
) -> list[Story]:
    """Stories of the edition window; clustering sees a wider window so stories keep their ids.

    With `remember`, new and changed assignments are stored for the next run to build on.
    """
    window = timedelta(
        hours=max(config.settings.cluster.window_hours, config.settings.edition_window_hours)
    )
    articles = store.articles_since(now - window)
    previous = store.story_assignments(a.id for a in articles)
    assignment = cluster.assign_stories(articles, previous, config.settings.cluster)
    if remember:
        changed = {k: v for k, v in assignment.items() if previous.get(k) != v}
        store.assign_stories(changed, now)
    since = now - timedelta(hours=config.settings.edition_window_hours)
    grouped: dict[str, list[Article]] = defaultdict(list)
    for article in articles:
        grouped[assignment[article.id]].append(article)
    stories = []
    for story_id, members in grouped.items():
        if max(a.published for a in members) < since:
            continue  # nothing new in this story within the edition window
        stories.append(Story.of(story_id, members))
    return stories


def select_for_edition(
    stories: list[Story], history: dict[str, StoryHistory], edition_id: str
) -> list[Story]:
    """Leave out stories already sent with nothing new; mark the ones that grew as updated."""
    chosen = []
    for story in stories:
        past = history.get(story.id)
        count = len(story.articles)
        if past is None:
            chosen.append(story)
        elif past.edition_id == edition_id:  # a re-run of today's edition: same verdict
            updated = past.before_count is not None and count > past.before_count
            chosen.append(replace(story, updated=updated))
        elif count > past.count:
            chosen.append(replace(story, updated=True))
    return chosen


def _cap_per_section(stories: list[Story], cap: int) -> list[Story]:
    taken: dict[str, int] = defaultdict(int)
    kept = []
    for story in stories:
        if taken[story.section] < cap:
            taken[story.section] += 1
            kept.append(story)
    return kept


def summarize(
    config: Config, store: Store, stories: list[Story]
) -> tuple[dict[str, Summary], dict[str, int]]:
    """Key sentences for every story; an abstract too when the model is configured and loads."""
    extractive = config.settings.summarizer.extractive
    keys = [
        (s, summarize_story(s, sentences=extractive.sentences, words=extractive.words))
        for s in track(stories, "key sentences", len(stories))
    ]
    abstractive = config.settings.summarizer.abstractive
    summarizer, reason = _summarizer(abstractive)
    summaries, counts = summarize_stories(
        keys, summarizer, store, abstractive, unavailable_reason=reason
    )
    return {s.story_id: s for s in summaries}, counts


_loaded: dict[Abstractive, AbstractiveSummarizer] = {}


def _summarizer(settings: Abstractive) -> tuple[AbstractiveSummarizer | None, str | None]:
    """The model is loaded once per process (`serve` keeps it between editions); a failed
    load is tried again at the next edition, so a model fetched meanwhile is picked up."""
    if settings in _loaded:
        return _loaded[settings], None
    summarizer, reason = load_or_warn(settings)
    if summarizer is not None:
        _loaded.clear()  # a changed configuration replaces the old model, never adds one
        _loaded[settings] = summarizer
    return summarizer, reason
