from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path

import pytest
from sqlalchemy import inspect

from briefing.errors import LockedError, StoreError
from briefing.models import Article
from briefing.store import Store, articles, deliveries
from tests.servers import free_port


def _article(n: int, published: datetime) -> Article:
    return Article(
        id=f"a{n}",
        feed="f",
        source="f",
        section="news",
        url=f"https://example.org/{n}",
        title=f"عنوان {n}",
        text="نص",
        published=published,
        content_hash=f"h{n}",
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on a fresh SQLite file, PostgreSQL database and MariaDB database."""
    opened = Store(database_url)
    yield opened
    opened.engine.dispose()


def test_articles_are_stored_once_and_come_back_timezone_aware(store: Store) -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert store.add_articles([_article(1, now), _article(2, now)], fetched_at=now) == 2
    assert store.add_articles([_article(1, now)], fetched_at=now) == 0
    [first, _] = store.articles_since(now - timedelta(hours=1))
    assert first.published == now and first.published.tzinfo is not None


def test_backlog_articles_are_kept_but_never_in_an_editions_window(store: Store) -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    backlog = replace(_article(2, now), backlog=True)
    assert store.add_articles([_article(1, now), backlog, _article(3, now)], fetched_at=now) == 3
    # A row from before the column existed reads NULL there: it is no backlog.
    with store.engine.begin() as conn:
        conn.execute(articles.update().where(articles.c.id == "a3").values(backlog=None))
    assert [a.id for a in store.articles_since(now - timedelta(hours=1))] == ["a1", "a3"]
    assert store.articles_by_id(["a2"])["a2"].backlog  # kept, so a later read knows it
    assert store.add_articles([backlog], fetched_at=now) == 0


def test_stories_are_recounted_when_articles_join_or_leave_them(store: Store) -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    store.add_articles([_article(n, now) for n in range(3)], fetched_at=now)
    store.assign_stories({"a0": "x", "a1": "y"}, now)
    store.assign_stories({"a2": "x"}, now + timedelta(hours=1))  # x grows
    store.assign_stories({"a1": "x"}, now + timedelta(hours=2))  # y merges into x
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, article_count, updated_at FROM stories")
        stories = {r[0]: (r[1], r[2]) for r in rows}
    assert {k: v[0] for k, v in stories.items()} == {"x": 3, "y": 0}
    assert str(stories["x"][1]).startswith("2026-11-29 05:00")


def test_retention_prunes_only_what_is_older_than_the_cutoff(store: Store) -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    store.add_articles([_article(1, now - timedelta(days=40)), _article(2, now)], fetched_at=now)
    pruned = store.prune(now - timedelta(days=30))
    assert pruned["articles"] == 1
    assert [a.id for a in store.articles_since(now - timedelta(days=400))] == ["a2"]


def test_a_delivery_is_reserved_once_retried_after_failure_and_never_after_success(
    store: Store,
) -> None:
    stale = timedelta(minutes=30)
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=stale)
    assert not store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=stale)  # in flight
    store.complete_delivery("e1", "r@example.org", error="451 try later")
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=stale)  # retry
    store.complete_delivery("e1", "r@example.org")
    assert not store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=stale)
    assert store.delivery_status("e1") == {"r@example.org": "sent"}


def test_a_later_bounce_makes_a_sent_delivery_refused_for_good_once(store: Store) -> None:
    stale = timedelta(minutes=30)
    for edition in ("e1", "e2"):
        for who in ("Reader@example.org", "other@example.org"):
            assert store.reserve_delivery(edition, who, f"<{edition}.{who}>", stale_after=stale)
            store.complete_delivery(edition, who)
    assert store.subscriber_of_message("<e1.other@example.org>") == "other@example.org"
    assert store.subscriber_of_message("<nobody>") is None
    # By the Message-ID the bounce returns: that very delivery.
    assert store.record_bounce("x@y", "<e1.Reader@example.org>", "bounced: 550") == (
        "Reader@example.org"
    )
    # By address alone (lowercased by the provider): the latest delivery, and only once.
    assert store.record_bounce("reader@example.org", None, "bounced: 550") == "Reader@example.org"
    assert store.record_bounce("reader@example.org", None, "bounced: 550") is None
    assert store.record_bounce("nobody@example.org", None, "bounced: 550") is None
    assert store.delivery_status("e1")["Reader@example.org"] == "failed_permanent"
    assert store.delivery_status("e2") == {
        "Reader@example.org": "failed_permanent",
        "other@example.org": "sent",
    }
    # Refused for good: never sent again, as after a 5xx at RCPT.
    assert not store.reserve_delivery("e2", "Reader@example.org", "<m>", stale_after=stale)


def test_a_mailbox_is_refused_for_good_only_after_a_streak_of_recent_refusals(
    store: Store,
) -> None:
    hour = timedelta(hours=1)
    outcomes: dict[str, dict[str, tuple[str | None, bool]]] = {  # edition -> who -> outcome
        "2026-12-01": {
            "dead@x.org": ("550 no such mailbox", True),
            "back@x.org": ("550 gone", True),
        },
        "2026-12-02": {"dead@x.org": ("550 no such mailbox", True), "back@x.org": (None, False)},
        "2026-12-03": {
            "dead@x.org": ("550 no such mailbox", True),
            "back@x.org": ("550 gone", True),
        },
        "2026-12-04": {"dead@x.org": ("551 moved", True), "back@x.org": ("550 gone", True)},
    }
    for edition, results in outcomes.items():
        for who, (error, permanent) in results.items():
            assert store.reserve_delivery(edition, who, "<m>", stale_after=hour)
            store.complete_delivery(edition, who, error=error, permanent=permanent)
    since = datetime.now(UTC) - hour
    # The last three before the fifth edition: dead's all refused; back's broken by a success.
    [(who, (error, when))] = store.refused_for_good("2026-12-05", since, 3).items()
    assert (who, error) == ("dead@x.org", "551 moved") and when >= since
    earlier = store.refused_for_good("2026-12-04", since, 3)  # the three before the fourth
    assert {k: error for k, (error, _) in earlier.items()} == {"dead@x.org": "550 no such mailbox"}
    assert set(store.refused_for_good("2026-12-05", since, 4)) == {"dead@x.org"}  # back: a success
    assert set(store.refused_for_good("2026-12-05", since, 2)) == {"dead@x.org", "back@x.org"}
    assert store.refused_for_good("2026-12-05", datetime.now(UTC) + hour, 3) == {}  # too old
    latest = store.latest_deliveries()  # what `briefing subscribers` shows
    assert {
        k: (r["edition_id"], r["status"], r["error"], r["last_sent"]) for k, r in latest.items()
    } == {
        "dead@x.org": ("2026-12-04", "failed_permanent", "551 moved", None),
        "back@x.org": ("2026-12-04", "failed_permanent", "550 gone", "2026-12-02"),
    }


def test_a_stale_reservation_from_a_crashed_run_is_taken_over(store: Store) -> None:
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=timedelta(minutes=30))
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=timedelta(0))


def _dead_pid() -> int:
    """The id of a process that has just exited (not reused in the instant after)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _held_by(store: Store, owner: str) -> None:
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=timedelta(hours=1))
    with store.engine.begin() as conn:
        conn.execute(deliveries.update().values(reserved_by=owner))


def test_a_dead_run_of_this_host_loses_its_reservation_at_once(store: Store) -> None:
    home = store.owner.rpartition(":")[0]
    _held_by(store, f"{home}:{_dead_pid()}")
    assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=timedelta(hours=1))


def test_a_run_in_another_pid_namespace_of_the_same_host_name_keeps_its_reservation(
    store: Store,
) -> None:
    # Two containers with host networking share a host name, not their process ids: a pid
    # that does not exist here may be a live run there, so only stale_after can free it.
    host = socket.gethostname()
    # Another namespace, and the host name alone (as written before namespaces were named).
    for owner in (f"{host}/pid:[1]:{_dead_pid()}", f"{host}:{_dead_pid()}"):
        _held_by(store, owner)
        hour = timedelta(hours=1)
        assert not store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=hour)
        assert store.reserve_delivery("e1", "r@example.org", "<m>", stale_after=timedelta(0))
        store.complete_delivery("e1", "r@example.org", error="451 try later")  # free it again


def test_the_edition_lock_excludes_a_second_holder_and_is_released(database_url: str) -> None:
    url = database_url
    first, second = Store(url), Store(url)
    second.owner = "other-host:2"
    with (
        first.lock("edition", ttl=timedelta(hours=1)),
        pytest.raises(LockedError, match="another run"),
        second.lock("edition", ttl=timedelta(hours=1)),
    ):
        pass
    with second.lock("edition", ttl=timedelta(hours=1)):
        pass  # released by the first holder


def test_a_lock_left_by_a_dead_run_of_this_host_is_taken_over_at_once(database_url: str) -> None:
    url = database_url
    crashed, fresh = Store(url), Store(url)
    crashed.owner = f"{crashed.owner.rpartition(':')[0]}:{_dead_pid()}"
    left = crashed.lock("edition", ttl=timedelta(hours=2))
    left.__enter__()  # and never left: its process died
    with fresh.lock("edition", ttl=timedelta(hours=2)):
        pass
    alive = Store(url)
    alive.owner = f"{alive.owner.rpartition(':')[0]}:1"  # pid 1 always exists
    held = alive.lock("edition", ttl=timedelta(hours=2))
    held.__enter__()
    with (
        pytest.raises(LockedError, match=r"another run \(.*:1\)"),
        fresh.lock("edition", ttl=timedelta(hours=2)),
    ):
        pass


def test_an_expired_lock_is_broken(database_url: str) -> None:
    url = database_url
    crashed, fresh = Store(url), Store(url)
    fresh.owner = "other-host:2"
    holder = crashed.lock("edition", ttl=timedelta(seconds=-1))  # already expired
    holder.__enter__()
    with fresh.lock("edition", ttl=timedelta(hours=1)):
        pass


# ---- every database keeps what SQLite keeps ------------------------------------------------


def test_what_is_stored_comes_back_exactly(store: Store) -> None:
    # MySQL's TEXT holds 64 KB, its DATETIME no fractions of a second, its FLOAT single
    # precision, and a server whose default character set is latin1 cannot hold Arabic.
    published = datetime(2026, 11, 29, 3, 0, 0, 123456, tzinfo=UTC)
    body = "قال المتحدث باسم الوزارة 🙂 إن الاجتماع سيعقد غدا. " * 4000  # 200,000 characters
    article = replace(_article(1, published), text=body, weight=2 / 3, guid="Item-7")
    store.add_articles([article], fetched_at=published)
    assert store.articles_since(published) == [article]
    assert store.known_keys()[1] == {("f", "Item-7")}


def test_keys_compare_exactly(store: Store) -> None:
    # A case- or accent-insensitive collation would take these for one feed, one reader.
    for name in ("الأخبار", "الاخبار", "BBC", "bbc"):
        store.save_feed_state(name, url=f"https://example.org/{name}")
    assert [s["name"] for s in store.all_feed_states()] == ["BBC", "bbc", "الأخبار", "الاخبار"]
    hour = timedelta(hours=1)
    assert store.reserve_delivery("e1", "Reader@example.org", "<m1>", stale_after=hour)
    assert store.reserve_delivery("e1", "reader@example.org", "<m2>", stale_after=hour)


def test_a_page_of_any_url_length_is_cached(store: Store) -> None:
    # Percent-encoded Arabic paths are long: longer than a database indexes.
    url = "https://example.org/" + "%D8%A7%D9%84" * 500  # 6,020 characters
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    store.cache_page(url, fetched_at=now, status=200, text="نص", error=None)
    store.cache_page(url + "x", fetched_at=now, status=404, text=None, error="HTTP 404")
    cached = store.cached_page(url)
    assert cached is not None and (cached["url"], cached["text"]) == (url, "نص")
    assert store.prune(now + timedelta(seconds=1)) and store.cached_page(url) is None


def test_an_older_database_is_brought_up_to_date(database_url: str) -> None:
    # Columns a newer version added, and the retired "pages" cache (keyed by URL, which
    # MySQL refused), as a database an older version created has them.
    Store(database_url).close()
    old = Store(database_url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE feeds DROP COLUMN last_warning")
        conn.exec_driver_sql("CREATE TABLE pages (url VARCHAR(200) PRIMARY KEY)")
    old.close()
    store = Store(database_url)
    store.save_feed_state("f", url="https://example.org/feed", last_warning="broken XML")
    assert store.feed_state("f")["last_warning"] == "broken XML"  # type: ignore[index]
    assert "pages" not in inspect(store.engine).get_table_names()
    store.close()


def test_concurrent_runs_each_win_a_reservation_or_the_lock_once(database_url: str) -> None:
    # Runs race on one database: every (edition, reader) goes to exactly one of them, the
    # lock to one run, and no run fails (a deadlock reported by the database counts).
    Store(database_url).close()
    runs = [Store(database_url) for _ in range(4)]
    for number, run in enumerate(runs):
        run.owner = f"other-host:{number + 10}"
    readers = [f"r{n}@example.org" for n in range(40)]
    hour = timedelta(hours=1)

    def deliver(run: Store) -> list[str]:
        return [r for r in readers if run.reserve_delivery("e1", r, "<m>", stale_after=hour)]

    def lock(run: Store) -> bool:
        try:
            with run.lock("edition", ttl=hour):
                time.sleep(0.2)  # the others try while it is held
            return True
        except LockedError:
            return False

    with ThreadPoolExecutor(len(runs)) as pool:
        won = list(pool.map(deliver, runs))
        locked = list(pool.map(lock, runs))
    assert sorted(chain.from_iterable(won)) == sorted(readers)
    assert locked.count(True) == 1
    for run in runs:
        run.close()


def test_a_database_that_cannot_be_opened_is_named_with_its_password_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"mysql+pymysql://bob:s3cret@127.0.0.1:{free_port()}/briefing"  # nothing listens
    with pytest.raises(StoreError) as caught:
        Store(nobody)
    assert "bob:***@127.0.0.1" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "its server is up" in caught.value.hint
    monkeypatch.setitem(sys.modules, "pymysql", None)  # as where the driver is not installed
    with pytest.raises(StoreError, match="its driver is not installed") as caught:
        Store(nobody)
    assert "pip install 'briefing[mysql]'" in caught.value.hint
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"NotADirectoryError|FileExistsError") as caught:
        Store(f"sqlite:///{tmp_path / 'file' / 'b.db'}")
    assert "its folder is writable" in caught.value.hint
