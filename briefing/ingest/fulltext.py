"""Full text for teaser items: fetch the article page and extract its main text (trafilatura).

The feed's own text stays when the page is not an article (a home page, a listing, a consent
wall) or when the extraction looks wrong: shorter than the teaser, or sharing little with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trafilatura

from briefing.arabic import normalize
from briefing.ingest.parse import MAX_ITEM_CHARS, cut_text
from briefing.models import Article

log = logging.getLogger(__name__)

_ARTICLE_TYPES = ("article", "newsarticle", "blogposting", "reportagenewsarticle")
_MIN_ARTICLE_WORDS = 20  # breaking news can be two short paragraphs
_MAX_LIST_SHARE = 0.5  # a page whose text is mostly list items is a listing
_MIN_TEASER_OVERLAP = 0.5  # share of the teaser's words the page text must contain


@dataclass(frozen=True, slots=True)
class Extraction:
    text: str  # the main text, one paragraph a line; "" when not an article
    is_article: bool
    reason: str = ""  # why the page is not taken as an article


def is_teaser(article: Article, mode: str, teaser_words: int) -> bool:
    """Whether to fetch the page: always, never, or "auto" when the feed text is short."""
    if mode == "never" or not article.url:
        return False
    return mode == "always" or len(article.text.split()) < teaser_words


def extract_article(page: str | bytes, url: str = "") -> Extraction:
    """The main text of an article page, or why the page is not an article."""
    metadata = trafilatura.extract_metadata(page, default_url=url or None)
    page_type = (metadata.pagetype or "").lower() if metadata else ""
    if page_type and page_type not in _ARTICLE_TYPES:
        return Extraction("", False, f"page type {page_type!r} is not an article")
    text = trafilatura.extract(
        page, url=url or None, include_comments=False, include_tables=False, deduplicate=True
    )
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return Extraction("", False, "no main text found")
    listed = sum(1 for line in lines if line.startswith(("- ", "* ", "• "))) / len(lines)
    if listed > _MAX_LIST_SHARE:
        return Extraction("", False, "the page is a list of links (a home or section page)")
    words = sum(len(line.split()) for line in lines)
    if words < _MIN_ARTICLE_WORDS:
        return Extraction("", False, f"only {words} words of main text")
    # No item is longer than MAX_ITEM_CHARS, whether its text came from the feed or the page.
    text = cut_text("\n".join(lines), MAX_ITEM_CHARS)
    return Extraction(text, True)


def doubt(extracted: str, feed_text: str) -> str | None:
    """Why the extracted text should not replace the feed's text, or None when it may."""
    if len(extracted) <= len(feed_text):
        return "the page text is no longer than the feed's"
    teaser = set(normalize(feed_text).split())
    if len(teaser) >= 8:
        page = set(normalize(extracted).split())
        shared = len(teaser & page) / len(teaser)
        if shared < _MIN_TEASER_OVERLAP:
            return f"the page text shares only {shared:.0%} of the teaser's words"
    return None
