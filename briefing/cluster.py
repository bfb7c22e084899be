"""Story clustering: articles about the same event, across sources, become one story.

Online and stable: articles clustered by an earlier run keep their story; new articles join
the most similar existing story above a threshold, or start a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from briefing.arabic import content_tokens
from briefing.config import Cluster
from briefing.models import Article, Story


def _document(article: Article) -> str:
    lead = " ".join(article.text.split()[:60])
    # The title counts twice: headlines name the event, bodies wander.
    return " ".join(content_tokens(f"{article.title} {article.title} {lead}"))


def assign_stories(
    articles: Sequence[Article], previous: Mapping[str, str], settings: Cluster
) -> dict[str, str]:
    """Map every article id to a story id; earlier assignments are kept as they are."""
    if not articles:
        return {}
    ordered = sorted(articles, key=lambda a: (a.published, a.id))
    matrix = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True).fit_transform(
        _document(a) for a in ordered
    )
    similarity = (matrix @ matrix.T).toarray()
    assignment: dict[str, str] = {}
    for i, article in enumerate(ordered):
        if article.id in previous:
            assignment[article.id] = previous[article.id]
            continue
        best = int(np.argmax(similarity[i, :i])) if i else -1
        if best >= 0 and similarity[i, best] >= settings.threshold:
            assignment[article.id] = assignment[ordered[best].id]
        else:
            assignment[article.id] = f"s-{article.id[:16]}"
    return assignment


def rank_stories(
    stories: Sequence[Story], now: datetime, section_order: Sequence[str] = ()
) -> list[Story]:
    """Most sources first, then freshest, weighted by the feeds' weights."""

    def score(story: Story) -> float:
        hours = max(0.0, (now - story.latest).total_seconds() / 3600)
        weight = max(a.weight for a in story.articles)
        return weight * (len(story.sources) + 1) / (1 + hours / 24)

    return sorted((replace(s, score=score(s)) for s in stories), key=lambda s: (-s.score, s.id))
