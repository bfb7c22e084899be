"""The database: SQLAlchemy Core tables and the few queries the stages need.

SQLite by default; any SQLAlchemy URL works (PostgreSQL and MariaDB are tested too).
Idempotency lives here, not in the scheduler: articles are keyed by canonical URL, deliveries
by (subscriber, edition).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    true,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

from briefing.errors import LockedError, StoreError
from briefing.models import Article

log = logging.getLogger(__name__)

# Every Moment column holds naive UTC (SQLite keeps no zone); rows come back aware.
metadata = MetaData()

# MySQL and MariaDB, unlike SQLite and PostgreSQL, cap TEXT at 64 KB, drop the fractions of a
# second from DATETIME (runs order their work by them) and keep FLOAT in single precision;
# their tables are made utf8mb4 with binary collation, so that Arabic is stored whatever the
# server's default and keys compare exactly, as elsewhere (a case- or accent-insensitive
# collation would take feeds named "BBC" and "bbc", or "الأخبار" and "الاخبار", for one).
_MYSQL = ("mysql", "mariadb")
LongText = Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
Moment = DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(name, metadata, *columns, mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


feeds = _table(
    "feeds",
    Column("name", String(200), primary_key=True),
    Column("url", LongText, nullable=False),  # current URL (follows permanent redirects)
    Column("etag", LongText),
    Column("last_modified", LongText),
    Column("last_success", Moment),
    Column("last_attempt", Moment),
    Column("last_error", LongText),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("new_items_last_run", Integer, nullable=False, default=0),
    Column("disabled_reason", LongText),  # set on 410 Gone
    Column("retry_after", Moment),  # set on 429/503 with Retry-After
    Column("config_url", LongText),  # the URL in feeds.yaml when the state was saved
    Column("last_warning", LongText),  # a problem that did not stop the feed (e.g. broken XML)
)

_UPDATE_FEED = update(feeds).where(feeds.c.name == bindparam("feed_name"))
_INSERT_FEED = insert(feeds)
_SELECT_FEED = select(feeds).where(feeds.c.name == bindparam("feed_name"))

# Full-text cache: one row per article page ever fetched, so that no page is fetched twice.
# Keyed by a hash of the URL: a URL can be longer than any database indexes (MySQL: 3,072
# bytes), and percent-encoded Arabic paths often are long. (It replaced "pages", keyed by the
# URL itself, which MySQL refused; an old "pages" is dropped on open: it held a cache only.)
page_cache = _table(
    "page_cache",
    Column("url_hash", String(64), primary_key=True),  # _url_hash(canonical URL)
    Column("url", LongText, nullable=False),
    Column("fetched_at", Moment, nullable=False),
    Column("status", Integer, nullable=False, default=0),
    Column("text", LongText),  # the extracted main text; NULL when the page gave none
    Column("error", LongText),  # why there is no text (fetch error, not an article, doubtful)
)

# MinHash signatures of stored articles, for near-duplicate detection within one source.
fingerprints = _table(
    "fingerprints",
    Column("article_id", String(64), primary_key=True),
    Column("source", String(200), nullable=False, index=True),
    Column("created_at", Moment, nullable=False, index=True),
    Column("signature", LargeBinary, nullable=False),
)

articles = _table(
    "articles",
    Column("id", String(64), primary_key=True),
    Column("feed", String(200), nullable=False, index=True),
    Column("source", String(200), nullable=False),
    Column("section", String(100), nullable=False),
    Column("url", LongText, nullable=False),
    Column("guid", LongText),
    Column("title", LongText, nullable=False),
    Column("text", LongText, nullable=False),
    Column("raw_text", LongText),
    Column("description", LongText),
    Column("author", LongText),
    Column("language", String(8)),
    Column("published", Moment, nullable=False, index=True),
    Column("published_estimated", Boolean, nullable=False, default=False),
    Column("fetched_at", Moment, nullable=False),
    Column("content_hash", String(64), index=True),
    Column("weight", Double, nullable=False, default=1.0),
    Column("story_id", String(64), index=True),
    Column("backlog", Boolean),  # Article.backlog: kept, never in an edition (NULL: false)
)

stories = _table(
    "stories",
    Column("id", String(64), primary_key=True),
    Column("created_at", Moment, nullable=False),
    Column("updated_at", Moment, nullable=False),
    Column("article_count", Integer, nullable=False, default=0),
    Column("last_edition_id", String(32)),  # the edition it last went out in
    Column("last_edition_count", Integer),  # how many articles it had then
    Column("before_count", Integer),  # how many it had in the edition before that one
)

summaries = _table(
    "summaries",
    Column("cache_key", String(64), primary_key=True),  # story content + model + settings
    Column("abstract", LongText),
    Column("model", LongText),
    Column("fallback_reason", LongText),
    Column("created_at", Moment, nullable=False),
)

editions = _table(
    "editions",
    Column("id", String(32), primary_key=True),
    Column("created_at", Moment, nullable=False),
    Column("story_ids", LongText, nullable=False),  # JSON list, in digest order
)

deliveries = _table(
    "deliveries",
    Column("edition_id", String(32), primary_key=True),
    Column("subscriber", String(320), primary_key=True),
    Column("status", String(16), nullable=False),  # reserved, sent, failed, failed_permanent
    Column("message_id", LongText, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", LongText),
    Column("reserved_by", LongText),
    Column("updated_at", Moment, nullable=False),
)

# Addresses that asked for no more digests (the unsubscribe page, or an editor). Never pruned:
# forgetting one would write to someone who said no. Keyed by the lowercased address, as the
# unsubscribe token is.
unsubscribes = _table(
    "unsubscribes",
    Column("address", String(320), primary_key=True),
    Column("unsubscribed_at", Moment, nullable=False),
    Column("via", String(16), nullable=False),  # one-click, page, mail, complaint, editor
)

# The two statements run for every message sent, built once: building a statement costs
# more than running it on SQLite (0.57 -> 0.22 ms to reserve, 0.36 -> 0.20 ms to complete).
_RESERVE = insert(deliveries)
_COMPLETE = (
    update(deliveries)
    .where(
        deliveries.c.edition_id == bindparam("edition"),
        deliveries.c.subscriber == bindparam("who"),
    )
    .values(status=bindparam("status"), error=bindparam("error"), updated_at=bindparam("now"))
)

_RECOUNT_STORY = (
    update(stories)
    .where(stories.c.id == bindparam("story"))
    .values(updated_at=bindparam("now"), article_count=bindparam("size"))
)

locks = _table(
    "locks",
    Column("name", String(64), primary_key=True),
    Column("owner", LongText, nullable=False),
    Column("acquired_at", Moment, nullable=False),
    Column("expires_at", Moment, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoryHistory:
    edition_id: str  # the last edition the story went out in
    count: int  # its article count then
    before_count: int | None  # its article count in the edition before that one


@dataclass(frozen=True, slots=True)
class SavedStory:
    """A story as an edition told it: its articles then, and whether it was marked updated.
    Both are None for editions saved by versions that kept the story id only."""

    id: str
    article_ids: tuple[str, ...] | None
    updated: bool | None
    size: int | None = None  # all its articles then, earlier ones included


def utcnow() -> datetime:
    return datetime.now(UTC)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class Store:
    """One database. Create it once per run and pass it to the stages that need it."""

    def __init__(self, url: str) -> None:
        self.url = url
        shown = _shown(url)
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                    parents=True, exist_ok=True
                )
            self.engine: Engine = create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            _create_tables(self.engine)
        except ImportError as exc:  # the URL names a driver that is not installed
            raise StoreError(
                f"cannot open database {shown!r}: its driver is not installed ({exc})",
                hint="install the driver the URL names; briefing's own: "
                "postgresql+psycopg:// (pip install 'briefing[postgres]') and "
                "mysql+pymysql:// (pip install 'briefing[mysql]')",
            ) from exc
        except (SQLAlchemyError, OSError, ValueError) as exc:
            where = "its folder is writable" if url.startswith("sqlite") else "its server is up"
            # SQLAlchemy's own str() adds a line of "Background on this error" links.
            detail = exc.args[0] if isinstance(exc, SQLAlchemyError) else exc
            raise StoreError(
                f"cannot open database {shown!r}: {exc.__class__.__name__}: {detail}",
                hint=f"check `database` in briefing.yaml and that {where}",
            ) from exc
        self.owner = f"{_process_home()}:{os.getpid()}"

    def close(self) -> None:
        self.engine.dispose()

    # ---- feeds -------------------------------------------------------------------------

    def feed_state(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT_FEED, {"feed_name": name}).mappings().first()
        return _aware_row(row) if row else None

    def all_feed_states(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feeds).order_by(feeds.c.name)).mappings().all()
        return [_aware_row(r) for r in rows]

    def save_feed_state(self, name: str, **values: Any) -> None:
        values = {k: _naive_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}
        with self.engine.begin() as conn:
            # Statements built once, values as parameters: building a statement from values
            # cost more than running it (ingest saves every feed's state every run).
            done = conn.execute(_UPDATE_FEED, {"feed_name": name, **values})
            if done.rowcount == 0:
                values.setdefault("url", "")
                values.setdefault("consecutive_failures", 0)
                values.setdefault("new_items_last_run", 0)
                conn.execute(_INSERT_FEED, {"name": name, **values})

    # ---- article pages (full-text cache) and fingerprints ------------------------------

    def cached_page(self, url: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(page_cache).where(page_cache.c.url_hash == _url_hash(url)))
                .mappings()
                .first()
            )
        return _aware_row(row) if row else None

    def cache_page(
        self, url: str, *, fetched_at: datetime, status: int, text: str | None, error: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(page_cache).where(page_cache.c.url_hash == _url_hash(url)))
            conn.execute(
                insert(page_cache).values(
                    url_hash=_url_hash(url),
                    url=url,
                    fetched_at=_naive_utc(fetched_at),
                    status=status,
                    text=text,
                    error=error,
                )
            )

    def recent_fingerprints(self, since: datetime) -> list[tuple[str, str, bytes]]:
        """(source, article_id, signature bytes) of articles stored since `since`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fingerprints.c.source, fingerprints.c.article_id, fingerprints.c.signature)
                .where(fingerprints.c.created_at >= _naive_utc(since))
                .order_by(fingerprints.c.created_at)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def add_fingerprints(self, items: Iterable[tuple[str, str, bytes]], created: datetime) -> None:
        """Store (source, article_id, signature bytes); an id stored already is kept as is."""
        self._insert_new((fingerprints, _fingerprint_rows(items, created)))

    # ---- articles ----------------------------------------------------------------------

    def known_keys(self) -> tuple[set[str], set[tuple[str, str]], set[str]]:
        """Ids, (feed, GUID) pairs and content hashes already stored, for deduplication at
        ingest. A GUID is only unique within its feed: two sites may both number their items
        "12345"."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.id, articles.c.feed, articles.c.guid, articles.c.content_hash)
            ).all()
        return (
            {r[0] for r in rows},
            {(r[1], r[2]) for r in rows if r[2]},
            {r[3] for r in rows if r[3]},
        )

    def add_articles(self, items: Iterable[Article], fetched_at: datetime) -> int:
        """Insert articles not stored yet; return how many were new."""
        return self._insert_new((articles, [_article_row(a, fetched_at) for a in items]))[0]

    def add_fingerprinted_articles(
        self, items: Iterable[tuple[Article, str, bytes]], fetched_at: datetime
    ) -> int:
        """`add_articles` and `add_fingerprints` of (article, source, signature) in one
        transaction (a commit per feed, not two); return how many articles were new."""
        items = list(items)
        article_rows = [_article_row(a, fetched_at) for a, _, _ in items]
        fingerprint_rows = _fingerprint_rows(((s, a.id, sig) for a, s, sig in items), fetched_at)
        return self._insert_new((articles, article_rows), (fingerprints, fingerprint_rows))[0]

    def _insert_new(self, *batches: tuple[Table, list[dict[str, Any]]]) -> list[int]:
        """Insert rows whose key is not stored yet, in one transaction; return how many went
        in, per batch.

        One multi-row insert per table when none is stored (the usual case: ingest filters
        known keys first); else row by row, skipping the ones another run stored meanwhile.
        """
        if not any(rows for _, rows in batches):
            return [0] * len(batches)
        try:
            with self.engine.begin() as conn:
                for table, rows in batches:
                    if rows:
                        conn.execute(insert(table), rows)
            return [len(rows) for _, rows in batches]
        except IntegrityError:
            pass
        counts = []
        with self.engine.begin() as conn:
            for table, rows in batches:
                new = 0
                for row in rows:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(table).values(**row))
                        new += 1
                    except IntegrityError:
                        continue  # stored by an earlier run: keep the first copy
                counts.append(new)
        return counts

    def articles_since(self, since: datetime) -> list[Article]:
        """The articles published since `since` that may enter an edition (no backlog)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles)
                .where(articles.c.published >= _naive_utc(since), articles.c.backlog.is_not(True))
                .order_by(articles.c.published, articles.c.id)
            ).mappings()
            return [_article_from_row(r) for r in rows]

    def story_assignments(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(article_ids)
        result: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                rows = conn.execute(
                    select(articles.c.id, articles.c.story_id).where(
                        articles.c.id.in_(chunk), articles.c.story_id.is_not(None)
                    )
                )
                result.update({r[0]: r[1] for r in rows})
        return result

    def assign_stories(self, assignment: dict[str, str], now: datetime) -> None:
        """Record article -> story; create the story rows, and for every story that gained
        or lost articles, recount them and mark it updated now (retention keeps a story
        while it is updated)."""
        touched = set(assignment.values())
        with self.engine.begin() as conn:
            before = {
                r[0]
                for r in conn.execute(
                    select(articles.c.story_id).where(articles.c.id.in_(list(assignment)))
                )
                if r[0]
            }
            # A statement per story, not per article: on a database server each one is a
            # round trip (1,155 articles of the June week are 180 stories).
            members: dict[str, list[str]] = {}
            for article_id, story_id in assignment.items():
                members.setdefault(story_id, []).append(article_id)
            for story_id, article_ids in members.items():
                for chunk in _chunks(article_ids, 500):
                    conn.execute(
                        update(articles).where(articles.c.id.in_(chunk)).values(story_id=story_id)
                    )
            touched |= before  # a story an article left is smaller now
            sizes = self._story_sizes(conn, touched)
            existing = {
                r[0] for r in conn.execute(select(stories.c.id).where(stories.c.id.in_(touched)))
            }
            moment = _naive_utc(now)
            rows = [{"story": s, "size": sizes.get(s, 0), "now": moment} for s in sorted(touched)]
            new = [
                {
                    "id": r["story"],
                    "created_at": moment,
                    "updated_at": moment,
                    "article_count": r["size"],
                }
                for r in rows
                if r["story"] not in existing
            ]
            if new:
                conn.execute(insert(stories), new)
            grown = [r for r in rows if r["story"] in existing]
            if grown:
                conn.execute(_RECOUNT_STORY, grown)

    @staticmethod
    def _story_sizes(conn: Connection, story_ids: Iterable[str]) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for chunk in _chunks(list(story_ids), 500):
            rows = conn.execute(
                select(articles.c.story_id, func.count())
                .where(articles.c.story_id.in_(chunk))
                .group_by(articles.c.story_id)
            )
            sizes.update({r[0]: int(r[1]) for r in rows})
        return sizes

    def story_sizes_before(self, story_ids: Iterable[str], before: datetime) -> dict[str, int]:
        """For each story, how many of its stored articles were published before `before`:
        with the articles of a window, a story's whole size however long it has run."""
        sizes: dict[str, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), 500):
                rows = conn.execute(
                    select(articles.c.story_id, func.count())
                    .where(
                        articles.c.story_id.in_(chunk),
                        articles.c.published < _naive_utc(before),
                    )
                    .group_by(articles.c.story_id)
                )
                sizes.update({r[0]: int(r[1]) for r in rows})
        return sizes

    def fetched_since(self, article_ids: Iterable[str], since: datetime) -> set[str]:
        """Which of these articles were fetched at or after `since`."""
        return {i for i, fetched in self.fetch_times(article_ids).items() if fetched >= since}

    def fetch_times(self, article_ids: Iterable[str]) -> dict[str, datetime]:
        """When each of these articles was fetched (stored)."""
        found: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(article_ids), 500):
                rows = conn.execute(
                    select(articles.c.id, articles.c.fetched_at).where(articles.c.id.in_(chunk))
                )
                found.update((i, at.replace(tzinfo=at.tzinfo or UTC)) for i, at in rows)
        return found

    def edition_history(self, story_ids: Iterable[str]) -> dict[str, StoryHistory]:
        """For stories that went out before: in which edition, with how many articles."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    stories.c.id,
                    stories.c.last_edition_id,
                    stories.c.last_edition_count,
                    stories.c.before_count,
                ).where(stories.c.id.in_(list(story_ids)), stories.c.last_edition_id.is_not(None))
            )
            return {r[0]: StoryHistory(r[1], r[2], r[3]) for r in rows}

    def mark_in_edition(self, edition_id: str, counts: dict[str, int]) -> None:
        """Record that these stories went out in `edition_id` with these article counts.

        Re-running the same edition keeps what the edition before it had, so that a re-run
        marks the same stories as updated.
        """
        history = self.edition_history(counts)
        with self.engine.begin() as conn:
            for story_id, count in counts.items():
                past = history.get(story_id)
                values: dict[str, Any] = {
                    "last_edition_id": edition_id,
                    "last_edition_count": count,
                }
                if past is None or past.edition_id != edition_id:
                    values["before_count"] = past.count if past else None
                conn.execute(update(stories).where(stories.c.id == story_id).values(**values))

    # ---- summaries cache ---------------------------------------------------------------

    def cached_summary(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(summaries).where(summaries.c.cache_key == key))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def cache_summary(
        self, key: str, *, abstract: str | None, model: str | None, fallback_reason: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(summaries).where(summaries.c.cache_key == key))
            conn.execute(
                insert(summaries).values(
                    cache_key=key,
                    abstract=abstract,
                    model=model,
                    fallback_reason=fallback_reason,
                    created_at=_naive_utc(utcnow()),
                )
            )

    # ---- editions and deliveries -------------------------------------------------------

    def save_edition(
        self, edition_id: str, stories: Sequence[SavedStory], created: datetime
    ) -> None:
        """Keep what the edition told, story by story: `briefing send` and `preview
        --edition` render exactly this later, whatever the stories became since."""
        entries = [
            {
                "id": s.id,
                "articles": list(s.article_ids or ()),
                "updated": bool(s.updated),
                "size": s.size,
            }
            for s in stories
        ]
        with self.engine.begin() as conn:
            conn.execute(delete(editions).where(editions.c.id == edition_id))
            conn.execute(
                insert(editions).values(
                    id=edition_id, created_at=_naive_utc(created), story_ids=json.dumps(entries)
                )
            )

    def edition_stories(self, edition_id: str) -> list[SavedStory] | None:
        """The edition's stories in digest order; None when there is no such edition.
        Editions saved before the articles were kept give their story ids only."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(editions.c.story_ids).where(editions.c.id == edition_id)
            ).scalar()
        if value is None:
            return None
        return [
            SavedStory(entry, None, None)
            if isinstance(entry, str)
            else SavedStory(
                entry["id"], tuple(entry["articles"]), entry["updated"], entry.get("size")
            )
            for entry in json.loads(value)
        ]

    def articles_by_id(self, article_ids: Iterable[str]) -> dict[str, Article]:
        found: dict[str, Article] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(article_ids), 500):
                rows = conn.execute(select(articles).where(articles.c.id.in_(chunk))).mappings()
                found.update((r["id"], _article_from_row(r)) for r in rows)
        return found

    def latest_edition(self, *, excluding: str | None = None) -> tuple[str, datetime] | None:
        """The id and build time of the most recently built edition (other than
        `excluding`: the one before a re-run of today's)."""
        query = select(editions.c.id, editions.c.created_at)
        if excluding is not None:
            query = query.where(editions.c.id != excluding)
        with self.engine.connect() as conn:
            row = conn.execute(
                query.order_by(editions.c.created_at.desc(), editions.c.id.desc()).limit(1)
            ).first()
        return (row[0], _aware(row[1])) if row else None  # type: ignore[return-value]

    def edition_created(self, edition_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(editions.c.created_at).where(editions.c.id == edition_id)
            ).scalar()
        return _aware(value)

    def articles_of_stories(
        self, story_ids: Iterable[str], *, fetched_by: datetime | None = None
    ) -> dict[str, list[Article]]:
        """Each story's articles, optionally only those fetched by a moment (an edition's)."""
        ids = list(story_ids)
        found: dict[str, list[Article]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                query = select(articles).where(articles.c.story_id.in_(chunk))
                if fetched_by is not None:
                    query = query.where(articles.c.fetched_at <= _naive_utc(fetched_by))
                for row in conn.execute(
                    query.order_by(articles.c.published, articles.c.id)
                ).mappings():
                    found.setdefault(row["story_id"], []).append(_article_from_row(row))
        return found

    def reserve_delivery(
        self, edition_id: str, subscriber: str, message_id: str, *, stale_after: timedelta
    ) -> bool:
        """Claim the right to send this edition to this subscriber.

        False when it was sent already, failed for good, or another run is sending it now.
        A failed attempt is retried. A reservation is taken over when its run is gone: at
        once when that run was a process on this host that no longer exists, else once it
        is older than `stale_after`.
        """
        now = utcnow()
        row = {
            "edition_id": edition_id,
            "subscriber": subscriber,
            "status": "reserved",
            "message_id": message_id,
            "attempts": 1,
            "reserved_by": self.owner,
            "updated_at": _naive_utc(now),
        }
        try:
            # The insert alone in its transaction: no savepoint needed when it fails.
            with self.engine.begin() as conn:
                conn.execute(_RESERVE, row)
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            key = (deliveries.c.edition_id == edition_id) & (deliveries.c.subscriber == subscriber)
            holder = conn.execute(select(deliveries.c.reserved_by).where(key)).scalar()
            takeover = (deliveries.c.status == "failed") | (
                (deliveries.c.status == "reserved")
                & (deliveries.c.updated_at < _naive_utc(now - stale_after))
            )
            if holder and holder != self.owner and _owner_is_dead(holder):
                takeover = takeover | (
                    (deliveries.c.status == "reserved") & (deliveries.c.reserved_by == holder)
                )
            # One conditional update, so that two runs cannot both win.
            taken = conn.execute(
                update(deliveries)
                .where(key, takeover)
                .values(
                    status="reserved",
                    reserved_by=self.owner,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=_naive_utc(now),
                    error=None,
                )
            )
            return taken.rowcount == 1

    def complete_delivery(
        self, edition_id: str, subscriber: str, *, error: str | None = None, permanent: bool = False
    ) -> None:
        status = "sent" if error is None else ("failed_permanent" if permanent else "failed")
        values = {"edition": edition_id, "who": subscriber, "status": status, "error": error}
        with self.engine.begin() as conn:
            conn.execute(_COMPLETE, {**values, "now": _naive_utc(utcnow())})

    def record_bounce(self, recipient: str, message_id: str | None, error: str) -> str | None:
        """A digest the relay accepted came back later, refused for good (a DSN): its
        delivery becomes refused for good, as a 5xx at RCPT would have made it. The delivery
        is the one whose Message-ID the DSN returns, else the recipient's latest one (address
        compared lowercased). Returns its subscriber, or None when that delivery is unknown or
        not marked sent (this bounce, or another of the same edition, was counted already)."""
        with self.engine.begin() as conn:
            if message_id:
                which = deliveries.c.message_id == message_id
            else:
                which = func.lower(deliveries.c.subscriber) == recipient.lower()
            row = conn.execute(
                select(deliveries.c.edition_id, deliveries.c.subscriber, deliveries.c.status)
                .where(which)
                .order_by(deliveries.c.edition_id.desc())
                .limit(1)
            ).first()
            if row is None or row.status != "sent":
                return None
            conn.execute(
                _COMPLETE,
                {
                    "edition": row.edition_id,
                    "who": row.subscriber,
                    "status": "failed_permanent",
                    "error": error,
                    "now": _naive_utc(utcnow()),
                },
            )
            return str(row.subscriber)

    def subscriber_of_message(self, message_id: str) -> str | None:
        """The subscriber a digest with this Message-ID was sent to (None if unknown)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(deliveries.c.subscriber)
                .where(deliveries.c.message_id == message_id)
                .limit(1)
            ).scalar()
        return str(found) if found is not None else None

    def refused_for_good(
        self, before_edition: str | None, since: datetime, streak: int
    ) -> dict[str, tuple[str, datetime]]:
        """Subscribers whose last `streak` deliveries before `before_edition` (None: of all
        editions) were all refused for good (5xx), the last of them at or after `since`:
        {address: (its last error, when)}."""
        earlier = true() if before_edition is None else deliveries.c.edition_id < before_edition
        refused = (deliveries.c.status == "failed_permanent") & earlier
        found: dict[str, tuple[str, datetime]] = {}
        with self.engine.connect() as conn:
            recent = conn.execute(
                select(deliveries.c.subscriber)
                .where(refused, deliveries.c.updated_at >= _naive_utc(since))
                .distinct()
            )
            for chunk in _chunks([r[0] for r in recent], 500):
                rows = conn.execute(
                    select(
                        deliveries.c.subscriber,
                        deliveries.c.status,
                        deliveries.c.error,
                        deliveries.c.updated_at,
                    )
                    .where(deliveries.c.subscriber.in_(chunk), earlier)
                    .order_by(deliveries.c.subscriber, deliveries.c.edition_id.desc())
                )
                history: dict[str, list[Any]] = {}
                for row in rows:
                    history.setdefault(row.subscriber, []).append(row)
                for who, latest in history.items():
                    last = latest[:streak]
                    when = _aware(last[0].updated_at)
                    if (
                        len(last) == streak
                        and all(r.status == "failed_permanent" for r in last)
                        and when is not None
                        and when >= since
                    ):
                        found[who] = (last[0].error or "", when)
        return found

    def latest_deliveries(self) -> dict[str, dict[str, Any]]:
        """Each subscriber's latest delivery row, with `last_sent`: the last edition that
        reached them (None when none did)."""
        with self.engine.connect() as conn:
            sent = dict(
                conn.execute(
                    select(deliveries.c.subscriber, func.max(deliveries.c.edition_id))
                    .where(deliveries.c.status == "sent")
                    .group_by(deliveries.c.subscriber)
                ).all()
            )
            latest = (
                select(deliveries.c.subscriber, func.max(deliveries.c.edition_id).label("last"))
                .group_by(deliveries.c.subscriber)
                .subquery()
            )
            rows = conn.execute(
                select(deliveries).join(
                    latest,
                    (deliveries.c.subscriber == latest.c.subscriber)
                    & (deliveries.c.edition_id == latest.c.last),
                )
            ).mappings()
            return {
                r["subscriber"]: {**_aware_row(r), "last_sent": sent.get(r["subscriber"])}
                for r in rows
            }

    def delivery_status(self, edition_id: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.subscriber, deliveries.c.status).where(
                    deliveries.c.edition_id == edition_id
                )
            )
            return {r[0]: r[1] for r in rows}

    def delivery_rows(self, edition_id: str) -> list[dict[str, Any]]:
        """Every delivery row of an edition: status, attempts, error, Message-ID."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.edition_id == edition_id)
                .order_by(deliveries.c.subscriber)
            ).mappings()
            return [_aware_row(r) for r in rows]

    # ---- unsubscribes -----------------------------------------------------------------

    def unsubscribe(self, address: str, via: str) -> tuple[datetime, bool]:
        """Record that `address` wants no more digests. The first request stands: returns
        when it was made, and whether it is this one."""
        key = address.lower()
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(unsubscribes),
                    {"address": key, "unsubscribed_at": _naive_utc(now), "via": via},
                )
            return now, True
        except IntegrityError:
            when, _ = self.unsubscribed([key])[key]
            return when, False

    def resubscribe(self, address: str) -> bool:
        """Forget an unsubscribe (the reader asked to come back); False if there was none."""
        with self.engine.begin() as conn:
            key = address.lower()
            gone = conn.execute(delete(unsubscribes).where(unsubscribes.c.address == key))
            return gone.rowcount == 1

    def unsubscribed(self, addresses: Iterable[str]) -> dict[str, tuple[datetime, str]]:
        """Those of `addresses` (compared lowercased) that unsubscribed: {lowercased address:
        (when, via)}."""
        found: dict[str, tuple[datetime, str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted({a.lower() for a in addresses}), 500):
                rows = conn.execute(select(unsubscribes).where(unsubscribes.c.address.in_(chunk)))
                for row in rows:
                    found[row.address] = (row.unsubscribed_at.replace(tzinfo=UTC), row.via)
        return found

    # ---- locks and retention -----------------------------------------------------------

    @contextmanager
    def lock(self, name: str, *, ttl: timedelta) -> Iterator[None]:
        """Hold a named lock in the database for the duration of the block. A lock left by
        a run that has died (on this host, in this PID namespace) is taken over at once;
        any other once it expires."""
        if not self._take_lock(name, ttl):
            self._take_over_or_raise(name, ttl)
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == self.owner))

    def prune(self, older_than: datetime) -> dict[str, int]:
        """Delete articles, editions and deliveries older than `older_than` (unsubscribes
        are kept for good)."""
        cutoff = _naive_utc(older_than)
        with self.engine.begin() as conn:
            n_articles = conn.execute(
                delete(articles).where(articles.c.published < cutoff)
            ).rowcount
            n_editions = conn.execute(
                delete(editions).where(editions.c.created_at < cutoff)
            ).rowcount
            n_deliveries = conn.execute(
                delete(deliveries).where(deliveries.c.updated_at < cutoff)
            ).rowcount
            n_stories = conn.execute(delete(stories).where(stories.c.updated_at < cutoff)).rowcount
            conn.execute(delete(page_cache).where(page_cache.c.fetched_at < cutoff))
            conn.execute(delete(fingerprints).where(fingerprints.c.created_at < cutoff))
        return {
            "articles": n_articles,
            "editions": n_editions,
            "deliveries": n_deliveries,
            "stories": n_stories,
        }

    def _take_lock(self, name: str, ttl: timedelta) -> bool:
        now = utcnow()
        # Two transactions: deleting a row that is absent and then inserting it, in one,
        # deadlocks two runs on MySQL (each holds a gap lock the other's insert waits for);
        # alone, the insert of the loser simply fails on the key.
        with self.engine.begin() as conn:
            conn.execute(
                delete(locks).where(locks.c.name == name, locks.c.expires_at < _naive_utc(now))
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(locks).values(
                        name=name,
                        owner=self.owner,
                        acquired_at=_naive_utc(now),
                        expires_at=_naive_utc(now + ttl),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over_or_raise(self, name: str, ttl: timedelta) -> None:
        """The lock is held: take it over when its holder has died (or has just let go),
        else raise LockedError naming the holder."""
        holder = self._lock_holder(name)  # read afresh: the failed insert spoiled its transaction
        if holder is not None and _owner_is_dead(holder[0]):
            log.warning("lock %r: its holder %s has died; taking the lock over", name, holder[0])
            with self.engine.begin() as conn:
                conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == holder[0]))
            holder = None
        if holder is None and self._take_lock(name, ttl):
            return
        owner, since = self._lock_holder(name) or ("unknown", "?")
        raise LockedError(
            f"another run ({owner}) has been building the edition since {since} UTC",
            hint="wait for it to finish; a lock left by a crashed run expires by itself",
        )

    def _lock_holder(self, name: str) -> tuple[str, datetime] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(locks.c.owner, locks.c.acquired_at).where(locks.c.name == name)
            ).first()
        return (row[0], row[1]) if row else None

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(metadata.tables[table])).scalar() or 0
            )


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create missing tables and columns. Two processes starting on a new database race
    here: the loser sees "table already exists" (or a lock) and simply checks again."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            _upgrade_schema(engine)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _upgrade_schema(engine: Engine) -> None:
    """Add nullable columns that a newer version defines to tables an older one created,
    and drop the tables it no longer uses."""
    inspector = inspect(engine)
    quote = engine.dialect.identifier_preparer.quote  # "name" in SQL, `name` in MySQL
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable and not column.primary_key:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(
                        sql_text(
                            f"ALTER TABLE {quote(table.name)} "
                            f"ADD COLUMN {quote(column.name)} {kind}"
                        )
                    )
        for name in _RETIRED_TABLES & set(inspector.get_table_names()):
            conn.execute(sql_text(f"DROP TABLE {quote(name)}"))


_RETIRED_TABLES = {"pages"}  # the page cache keyed by URL, now "page_cache"


def _shown(url: str) -> str:
    """The database URL fit for a message: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url  # not a URL at all: no password to hide


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def _fingerprint_rows(
    items: Iterable[tuple[str, str, bytes]], created: datetime
) -> list[dict[str, Any]]:
    moment = _naive_utc(created)
    return [
        {"article_id": i, "source": s, "created_at": moment, "signature": sig}
        for s, i, sig in items
    ]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets a reader (briefing feeds) run beside a writer; busy_timeout makes two runs
    # wait for each other instead of failing with "database is locked".
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL still survives any crash of the application (a commit is in the
    # WAL file); it only skips the fsync per commit (10-12 ms here), which FULL pays for
    # power loss. Ingest commits per feed and delivery twice per message: FULL capped both.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _process_home() -> str:
    """Where a process id means something: this host name and this PID namespace. Two
    containers may share a host name (host networking) while each has its own process ids,
    so a pid missing here says nothing about a run in the other one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:  # not Linux: the host name alone
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


def _owner_is_dead(owner: str) -> bool:
    """True only when `owner` ("home:pid") names a process of this host and PID namespace
    that has exited; any other owner is left to the stale_after timeout."""
    home, _, pid = owner.rpartition(":")
    if home != _process_home() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _aware_row(row: Any) -> dict[str, Any]:
    return {k: _aware(v) if isinstance(v, datetime) else v for k, v in dict(row).items()}


def _article_row(article: Article, fetched_at: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "feed": article.feed,
        "source": article.source,
        "section": article.section,
        "url": article.url,
        "guid": article.guid,
        "title": article.title,
        "text": article.text,
        "raw_text": article.raw_text,
        "description": article.description,
        "author": article.author,
        "language": article.language,
        "published": _naive_utc(article.published),
        "published_estimated": article.published_estimated,
        "fetched_at": _naive_utc(fetched_at),
        "content_hash": article.content_hash,
        "weight": article.weight,
        "backlog": article.backlog,
    }


def _article_from_row(row: Any) -> Article:
    return Article(
        id=row["id"],
        feed=row["feed"],
        source=row["source"],
        section=row["section"],
        url=row["url"],
        title=row["title"],
        text=row["text"],
        published=_aware(row["published"]),  # type: ignore[arg-type]
        guid=row["guid"] or "",
        author=row["author"] or "",
        description=row["description"] or "",
        language=row["language"] or "",
        published_estimated=bool(row["published_estimated"]),
        raw_text=row["raw_text"] or "",
        content_hash=row["content_hash"] or "",
        weight=row["weight"],
        backlog=bool(row["backlog"]),
    )
