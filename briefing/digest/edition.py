"""An edition already built, read back from the store, for `briefing send` and `preview`.

The editions table keeps each edition's story ids in digest order; the stories are rebuilt
from the articles that were in the store when the edition was built (so a story that grew
afterwards is sent as it was), and summarized again by the caller's summarizer (cached
summaries make that cheap and give the same text).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from briefing.config import Config
from briefing.errors import BriefingError
from briefing.models import Edition, EditionStory, Story, Summary
from briefing.store import Store

Summarize = Callable[[Config, Store, list[Story]], tuple[dict[str, Summary], dict[str, int]]]


def latest_edition_id(store: Store) -> str:
    latest = store.latest_edition()
    if latest is None:
        raise BriefingError("no edition has been built yet", hint="run `briefing run` first")
    return latest[0]


def load_edition(
    config: Config, store: Store, edition_id: str | None, summarize: Summarize
) -> Edition:
    """The stored edition `edition_id` (the latest when None), ready to render."""
    edition_id = edition_id or latest_edition_id(store)
    story_ids = store.edition_story_ids(edition_id)
    created = store.edition_created(edition_id)
    if story_ids is None or created is None:
        raise BriefingError(
            f"no edition {edition_id!r} in the database",
            hint="editions are named by their date, e.g. 2026-11-29; omit --edition for the latest",
        )
    articles = store.articles_of_stories(story_ids, fetched_by=created)
    history = store.edition_history(story_ids)
    stories = []
    for story_id in story_ids:
        members = articles.get(story_id)
        if not members:
            continue  # pruned since: nothing left to tell
        past = history.get(story_id)
        updated = bool(
            past is not None
            and past.edition_id == edition_id
            and past.before_count is not None
            and len(members) > past.before_count
        )
        stories.append(Story.of(story_id, members, updated=updated))
    summaries, _ = summarize(config, store, stories)
    return Edition(
        id=edition_id,
        day=_edition_day(edition_id, created.astimezone(config.zone).date()),
        created=created,
        stories=tuple(EditionStory(story=s, summary=summaries[s.id]) for s in stories),
    )


def _edition_day(edition_id: str, fallback: date) -> date:
    try:
        return date.fromisoformat(edition_id)  # the pipeline names editions by their date
    except ValueError:
        return fallback
