from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from briefing.errors import LockedError
from briefing.models import Article
from briefing.store import Store, deliveries


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
    """A store on a fresh SQLite file, and on a fresh PostgreSQL database."""
    opened = Store(database_url)
    yield opened
    opened.engine.dispose()


def test_articles_are_stored_once_and_come_back_timezone_aware(store: Store) -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert store.add_articles([_article(1, now), _article(2, now)], fetched_at=now) == 2
    assert store.add_articles([_article(1, now)], fetched_at=now) == 0
    [first, _] = store.articles_since(now - timedelta(hours=1))
    assert first.published == now and first.published.tzinfo is not None


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
