"""Per-feed include/exclude filters, for editors who want only part of a broad feed.

A filter is a keyword or a /regular expression/; both are matched on normalized text (so
"إسرائيل" matches "اسرائيل" and "الإسرائيلية"), over the title, description and body.
A regular expression is normalized too, but only its Arabic letters: `normalize` also
lowercases and collapses spaces, which would turn `\\S` into `\\s` and `\\D` into `\\d`.
Latin letters match whatever their case instead (the text is lowercased).
"""

from __future__ import annotations

import re
from functools import lru_cache

from briefing.arabic import normalize
from briefing.config import Feed
from briefing.models import Article

# Arabic, its supplements and presentation forms: the only characters of a pattern folded.
_ARABIC_RUN = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefe]+")


def normalize_pattern(pattern: str) -> str:
    """`pattern` with its Arabic letters folded as `normalize` folds text (one alef, ي for ى,
    ه for ة, no tashkeel or tatweel, ASCII digits); regex syntax is left as written."""
    # Escaped: folding the Arabic decimal separator gives ".", which must stay a literal dot.
    return _ARABIC_RUN.sub(lambda run: re.escape(normalize(run.group())), pattern)


@lru_cache(maxsize=1024)
def _matcher(expression: str) -> re.Pattern[str]:
    if len(expression) > 2 and expression.startswith("/") and expression.endswith("/"):
        return re.compile(normalize_pattern(expression[1:-1]), re.IGNORECASE)
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
