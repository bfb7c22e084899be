"""An edition already built, read back from the store, for `briefing send` and `preview`.

The editions table keeps each edition's stories in digest order, with the articles each one
told and whether it was marked updated; the stories are rebuilt from exactly those articles
(a story that grew afterwards is sent as it was), and summarized again by the caller's
summarizer (cached summaries make that cheap and give the same text). Editions saved by
older versions kept story ids only: their stories take the articles fetched by the time the
edition was built.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from briefing.config import Config
from briefing.errors import BriefingError
from briefing.models import Article, Edition, EditionStory, Story, Summary
from briefing.store import SavedStory, Store

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
    saved = store.edition_stories(edition_id)
    created = store.edition_created(edition_id)
    if saved is None or created is None:
        raise BriefingError(
            f"no edition {edition_id!r} in the database",
            hint="editions are named by their date, e.g. 2026-11-29; omit --edition for the latest",
        )
    members = _members(store, saved, edition_id, created)
    stories, sizes = [], {}
    for entry in saved:
        articles, updated = members.get(entry.id, ([], False))
        if articles:  # else pruned since: nothing left to tell
            stories.append(Story.of(entry.id, articles, updated=updated))
            sizes[entry.id] = entry.size or 0
    summaries, _ = summarize(config, store, stories)
    return Edition(
        id=edition_id,
        day=_edition_day(edition_id, created.astimezone(config.zone).date()),
        created=created,
        stories=tuple(EditionStory(s, summaries[s.id], sizes[s.id]) for s in stories),
    )


def _members(
    store: Store, saved: list[SavedStory], edition_id: str, created: datetime
) -> dict[str, tuple[list[Article], bool]]:
    """Each saved story's articles, in publication order, and its updated mark."""
    if all(entry.article_ids is not None for entry in saved):
        found = store.articles_by_id(i for entry in saved for i in entry.article_ids or ())
        return {
            entry.id: (
                sorted(
                    (found[i] for i in entry.article_ids or () if i in found),
                    key=lambda a: (a.published, a.id),
                ),
                bool(entry.updated),
            )
            for entry in saved
        }
    # An edition saved with its story ids only.
    ids = [entry.id for entry in saved]
    by_story = store.articles_of_stories(ids, fetched_by=created)
    history = store.edition_history(ids)
    result = {}
    for story_id in ids:
        articles = by_story.get(story_id, [])
        past = history.get(story_id)
        updated = bool(
            past is not None
            and past.edition_id == edition_id
            and past.before_count is not None
            and len(articles) > past.before_count
        )
        result[story_id] = (articles, updated)
    return result


def _edition_day(edition_id: str, fallback: date) -> date:
    try:
        return date.fromisoformat(edition_id)  # the pipeline names editions by their date
    except ValueError:
        return fallback
