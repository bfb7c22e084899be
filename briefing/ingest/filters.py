"""Per-feed include/exclude filters, for editors who want only part of a broad feed.

A filter is a keyword or a /regular expression/; both are matched on normalized text (so
"إسرائيل" matches "اسرائيل" and "الإسرائيلية"), over the title, description and body.
"""

from __future__ import annotations

import re
from functools import lru_cache

from briefing.arabic import normalize
from briefing.config import Feed
from briefing.models import Article


@lru_cache(maxsize=1024)
def _matcher(expression: str) -> re.Pattern[str]:
    if len(expression) > 2 and expression.startswith("/") and expression.endswith("/"):
        return re.compile(expression[1:-1])
    return re.compile(re.escape(normalize(expression)))


def matches(expression: str, normalized_text: str) -> bool:
    return _matcher(expression).search(normalized_text) is not None


def wanted(article: Article, feed: Feed) -> bool:
    """True when the item passes the feed's filters (always true for a feed without any)."""
    if not feed.include and not feed.exclude:
        return True
    text = normalize(f"{article.title}\n{article.description}\n{article.text}")
    if feed.include and not any(matches(e, text) for e in feed.include):
        return False
    return not any(matches(e, text) for e in feed.exclude)
