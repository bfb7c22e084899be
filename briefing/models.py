"""Frozen records passed between stages. Library objects are converted at the boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Article:
    """One news item as stored: text as published, cleaned of site furniture."""

    id: str  # stable key derived from the canonical URL (or GUID when there is no link)
    feed: str  # the feed's name in feeds.yaml
    source: str  # the name readers see
    section: str
    url: str
    title: str
    text: str  # cleaned body (or feed description when there is no body)
    published: datetime  # timezone-aware, UTC
    guid: str = ""
    author: str = ""
    description: str = ""  # the feed's description/summary, as text
    language: str = "ar"
    published_estimated: bool = False  # True when the feed gave no date: fetch time stands in
    raw_text: str = ""  # the text before cleaning, kept so editors can audit the cleaner
    content_hash: str = ""  # hash of the normalized text, for exact-duplicate detection
    weight: float = 1.0  # the feed's weight from feeds.yaml
    # Undated, and found on its feed's first read: it may be years old, so it is kept (a
    # later read knows it) but never enters an edition.
    backlog: bool = False


@dataclass(frozen=True, slots=True)
class Story:
    """Articles about the same event, from one or more sources."""

    id: str  # stable across runs: a story that grows keeps its id
    articles: tuple[Article, ...]
    section: str
    score: float = 0.0  # ranking score: sources, freshness, feed weights
    updated: bool = False  # grew since the previous edition

    @classmethod
    def of(cls, story_id: str, articles: Sequence[Article], *, updated: bool = False) -> Story:
        """A story in the section of its lead article."""
        return cls(
            id=story_id,
            articles=tuple(articles),
            section=_lead(articles).section,
            updated=updated,
        )

    @property
    def lead(self) -> Article:
        """The article whose headline stands for the story: the earliest from the best feed,
        among those that have a title."""
        return _lead(self.articles)

    @property
    def headline(self) -> str:
        """The lead's title; for a story whose items all came without one, the opening
        words of its text as published."""
        lead = self.lead
        return lead.title if lead.title.strip() else _opening(lead.description or lead.text)

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct source names, in order of first publication."""
        ordered = sorted(self.articles, key=lambda a: a.published)
        return tuple(dict.fromkeys(a.source for a in ordered))

    @property
    def latest(self) -> datetime:
        return max(a.published for a in self.articles)


def _lead(articles: Sequence[Article]) -> Article:
    return min(articles, key=lambda a: (not a.title.strip(), -a.weight, a.published, a.id))


HEADLINE_WORDS = 14


def _opening(text: str) -> str:
    """The first line of `text`, cut to HEADLINE_WORDS words (marked with an ellipsis)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    words = line.split()
    return line if len(words) <= HEADLINE_WORDS else " ".join(words[:HEADLINE_WORDS]) + " …"


@dataclass(frozen=True, slots=True)
class KeySentence:
    """A sentence picked by the extractive summarizer, with every source that carried it."""

    text: str
    article_id: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """What a reader gets for one story."""

    story_id: str
    key_sentences: tuple[KeySentence, ...]
    abstract: str | None = None  # machine-written summary, only when it passed the guard
    model: str | None = None
    fallback_reason: str | None = None  # why there is no abstract, when one was attempted


@dataclass(frozen=True, slots=True)
class EditionStory:
    story: Story  # with the articles of the edition window
    summary: Summary
    size: int = 0  # all its articles when the edition was built, earlier ones included

    @property
    def told_size(self) -> int:
        """The size to remember as told (the window's count for records built without one)."""
        return self.size or len(self.story.articles)


@dataclass(frozen=True, slots=True)
class Edition:
    """One morning's stories, before they are cut per subscriber."""

    id: str  # the edition date in the configured zone, e.g. "2026-11-29"
    day: date
    created: datetime
    stories: tuple[EditionStory, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """One subscriber's email, rendered."""

    subscriber: str  # email address
    edition_id: str
    subject: str
    html: str | None  # None for text-only subscribers
    text: str
    story_ids: tuple[str, ...] = field(default_factory=tuple)
