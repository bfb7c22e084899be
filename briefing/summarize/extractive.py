"""Extractive summaries: the key sentences of a story, across its sources."""

from __future__ import annotations

from briefing.arabic import content_tokens
from briefing.arabic.sentences import split_sentences
from briefing.models import KeySentence, Story


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def summarize_story(
    story: Story, *, sentences: int | None = 3, words: int | None = None
) -> tuple[KeySentence, ...]:
    """Pick lead-weighted central sentences from all articles, one per repeated fact."""
    candidates = []
    for article in story.articles:
        for position, sentence in enumerate(split_sentences(article.text)):
            tokens = set(content_tokens(sentence))
            if len(tokens) >= 3:
                candidates.append((position, sentence, article, tokens))
    title_tokens = set(content_tokens(story.headline))
    scored = sorted(
        candidates, key=lambda c: (-(_overlap(c[3], title_tokens) + 1 / (1 + c[0])), c[0])
    )
    chosen: list[tuple[str, str, set[str], list[str]]] = []
    for _, sentence, article, tokens in scored:
        duplicate = next((c for c in chosen if _overlap(c[2], tokens) > 0.6), None)
        if duplicate:
            if article.source not in duplicate[3]:
                duplicate[3].append(article.source)
            continue
        if len(chosen) < (sentences or 3):
            chosen.append((sentence, article.id, tokens, [article.source]))
    return tuple(KeySentence(text=s, article_id=a, sources=tuple(src)) for s, a, _, src in chosen)
