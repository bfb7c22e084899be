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
from briefing.digest.edition import load_edition
from briefing.digest.mailbox import MailboxReport, read_mailbox
from briefing.digest.render import render_digest
from briefing.errors import EXIT_NOTHING_SENT, EXIT_OK, EXIT_PARTIAL
from briefing.ingest import IngestReport, ingest
from briefing.models import Article, Digest, Edition, EditionStory, Story, Summary
from briefing.progress import track
from briefing.store import SavedStory, Store, StoryHistory, utcnow
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
    mailbox: MailboxReport | None = None  # None: no mailbox configured

    @property
    def exit_code(self) -> int:
        """0 all went well, 1 partial (a feed or recipient failed), 3 nothing could be sent.

        An edition without stories sends nothing: 3 when no feed could be read (the
        operator must look), else 1 when some feeds failed and 0 on a quiet morning."""
        if not self.stories and self.subscribers:
            if self.ingest.feeds_failed and not self.ingest.feeds_ok:
                return EXIT_NOTHING_SENT
            return EXIT_PARTIAL if self.ingest.feeds_failed else EXIT_OK
        delivery = self.delivery.exit_code(self.subscribers)
        unread = self.mailbox is not None and self.mailbox.error is not None
        if delivery == EXIT_OK and (self.ingest.feeds_failed or unread):
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
            d.lines()[0] if self.stories else "nothing sent: the edition has no stories",
        ]
        lines += self.ingest.feed_lines()
        lines += self.mailbox.lines() if self.mailbox else []
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
            store.save_edition(edition.id, saved_stories(edition), now)
            # Bounces, complaints and unsubscribe mails first: this edition honours them.
            with timer.stage("mailbox"):
                mailbox = read_mailbox(config, store) if send else None
            # No stories (every feed failed, or nothing new): nobody gets an empty email, and
            # a later run today can still send the real edition.
            readers = config.subscribers if send and edition.stories else ()
            with timer.stage("render"):
                subscribers = track(readers, "render", len(readers))
                digests = [render_digest(edition, s, config) for s in subscribers]
            with timer.stage("deliver"):
                delivery = deliver(digests, config, store) if digests else DeliveryReport()
            if not edition.stories:
                log.warning("edition %s has no stories: nothing sent", edition.id)
            mark_told(store, edition, digests, delivery)
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
        mailbox=mailbox,
    )


def send_edition(
    config: Config, edition_id: str | None
) -> tuple[Edition, DeliveryReport, MailboxReport | None]:
    """`briefing send`: deliver an edition already built (the latest when None) exactly as
    it was built; whoever has it already is skipped. Its stories then count as told. The
    mailbox is read first, as by a run, so that unsubscribes since the build are honoured."""
    store = Store(config.database_url)
    try:
        edition = load_edition(config, store, edition_id, summarize)
        mailbox = read_mailbox(config, store)
        digests = [render_digest(edition, s, config) for s in config.subscribers]
        delivery = deliver(digests, config, store) if edition.stories else DeliveryReport()
        mark_told(store, edition, digests, delivery)
    finally:
        store.close()
    return edition, delivery, mailbox


def saved_stories(edition: Edition) -> list[SavedStory]:
    """What the store keeps of an edition, so that `send` and `preview --edition` render
    exactly what it told."""
    return [
        SavedStory(s.story.id, tuple(a.id for a in s.story.articles), s.story.updated, s.size)
        for s in edition.stories
    ]


def mark_told(
    store: Store, edition: Edition, digests: list[Digest], delivery: DeliveryReport
) -> None:
    """Stories count as told once they reached someone: those in the digests delivered
    (now or by an earlier run). After a morning when nobody could be reached, and for a
    story beyond every subscriber's max_stories, the next edition still carries them."""
    reached = {*delivery.sent, *delivery.skipped}
    told = {i for d in digests if d.subscriber in reached for i in d.story_ids}
    sizes = {s.story.id: s.told_size for s in edition.stories if s.story.id in told}
    if sizes:
        store.mark_in_edition(edition.id, sizes)


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
        stories, window_start = cluster_window(config, store, now, remember=remember_stories)
        earlier = store.story_sizes_before((s.id for s in stories), window_start)
        sizes = {s.id: len(s.articles) + earlier.get(s.id, 0) for s in stories}
        history = store.edition_history(s.id for s in stories)
        stories = select_for_edition(stories, history, edition_id, sizes)
        # An updated story is ranked by what it gained, as it is told: one new article of a
        # big story must not push a fresh story that many sources carry off the edition.
        stories = what_is_new(stories, history, edition_id, sizes, store)
        stories = cluster.rank_stories(stories, now, list(config.settings.sections))
        stories = _cap_per_section(stories, config.settings.max_stories)
    with timer.stage("summarize"):
        summaries, counts = summarize(config, store, stories)
    edition = Edition(
        id=edition_id,
        day=now.astimezone(config.zone).date(),
        created=now,
        stories=tuple(EditionStory(s, summaries[s.id], sizes[s.id]) for s in stories),
    )
    return edition, counts


def cluster_window(
    config: Config, store: Store, now: datetime, *, remember: bool = True
) -> tuple[list[Story], datetime]:
    """Stories with something new for this edition, and where their window starts
    (clustering sees a wider window than the edition's, so that stories keep their ids).

    Something new: an article published within the edition window, or fetched since the
    edition before this one (a feed that was down, or late, still gets its items told), or
    a story of that edition that reached no reader (beyond every reader's cap).
    With `remember`, new and changed assignments are stored for the next run to build on.
    """
    start = now - timedelta(
        hours=max(config.settings.cluster.window_hours, config.settings.edition_window_hours)
    )
    articles = store.articles_since(start)
    previous = store.story_assignments(a.id for a in articles)
    assignment = cluster.assign_stories(articles, previous, config.settings.cluster)
    if remember:
        changed = {k: v for k, v in assignment.items() if previous.get(k) != v}
        store.assign_stories(changed, now)
    since = now - timedelta(hours=config.settings.edition_window_hours)
    late, left_over = _left_by_last_edition(store, articles, now, config)
    grouped: dict[str, list[Article]] = defaultdict(list)
    for article in articles:
        grouped[assignment[article.id]].append(article)
    stories = [
        Story.of(story_id, members)
        for story_id, members in grouped.items()
        if max(a.published for a in members) >= since
        or story_id in left_over
        or any(a.id in late for a in members)
    ]
    return stories, start


def _left_by_last_edition(
    store: Store, articles: list[Article], now: datetime, config: Config
) -> tuple[set[str], set[str]]:
    """What the last edition before today's left to this one: the ids of the articles
    fetched since it was built, and of its stories that reached no reader."""
    today = now.astimezone(config.zone).date().isoformat()
    last = store.latest_edition(excluding=today)
    if last is None:
        return set(), set()
    edition_id, created = last
    shown = [s.id for s in store.edition_stories(edition_id) or ()]
    told = store.edition_history(shown)
    left_over = {i for i in shown if i not in told or told[i].edition_id != edition_id}
    return store.fetched_since((a.id for a in articles), created), left_over


def select_for_edition(
    stories: list[Story],
    history: dict[str, StoryHistory],
    edition_id: str,
    sizes: dict[str, int],
) -> list[Story]:
    """Leave out stories already sent with nothing new; mark the ones that grew as updated.
    `sizes`: each story's whole article count (not only its articles in the window)."""
    chosen = []
    for story in stories:
        past = history.get(story.id)
        count = sizes[story.id]
        if past is None:
            chosen.append(story)
        elif past.edition_id == edition_id:  # a re-run of today's edition: same verdict
            updated = past.before_count is not None and count > past.before_count
            chosen.append(replace(story, updated=updated))
        elif count > past.count:
            chosen.append(replace(story, updated=True))
    return chosen


def what_is_new(
    stories: list[Story],
    history: dict[str, StoryHistory],
    edition_id: str,
    sizes: dict[str, int],
    store: Store,
) -> list[Story]:
    """Each updated story cut to the articles its readers have not had: the last fetched,
    as many as it grew by since it was last told, so that its headline, key sentences and
    sources say what happened since, and it is ranked by them. (A re-run of today's edition
    counts from the edition before, and so tells the same.)"""
    fetched = store.fetch_times(a.id for s in stories if s.updated for a in s.articles)
    result = []
    for story in stories:
        told = _told_count(history.get(story.id), edition_id)
        new = sizes[story.id] - told if story.updated and told is not None else 0
        if 0 < new < len(story.articles):
            by_fetch = sorted(story.articles, key=lambda a: (fetched[a.id], a.published, a.id))
            news = sorted(by_fetch[-new:], key=lambda a: (a.published, a.id))
            story = replace(story, articles=tuple(news))
        result.append(story)
    return result


def _told_count(past: StoryHistory | None, edition_id: str) -> int | None:
    """How many articles of a story its readers had: at its last telling before this edition."""
    if past is None:
        return None
    return past.before_count if past.edition_id == edition_id else past.count


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
