"""The guard: nothing a reader sees may state what the sources do not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from briefing.config import Abstractive
from briefing.models import Article, KeySentence, Story
from briefing.store import Store
from briefing.summarize.guard import check_summary

SOURCES = [
    "أعلنت وزارة الصحة السعودية اليوم افتتاح 3 مستشفيات جديدة في الرياض بتكلفة 1,200 مليون ريال.",
    "وقالت وكالة Reuters إن المستشفيات ستخدم نحو ٥٠٠ ألف مريض سنويا بحلول عام 2027.",
]
FAITHFUL = "افتتحت وزارة الصحة ٣ مستشفيات جديدة في الرياض بتكلفة 1200 مليون ريال، بحسب رويترز."


def test_a_faithful_summary_passes() -> None:
    # Arabic-Indic ٣ matches the sources' 3, 1200 matches 1,200, and back again for ٥٠٠.
    assert check_summary(FAITHFUL, SOURCES) is None
    assert (
        check_summary("ستخدم المستشفيات 500 ألف مريض سنويا حتى 2027 وفق REUTERS.", SOURCES) is None
    )


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        ("افتتحت وزارة الصحة 7 مستشفيات جديدة في الرياض اليوم.", "number not in the sources: 7"),
        ("افتتحت وزارة الصحة ٤ مستشفيات جديدة في الرياض اليوم.", "number not in the sources: 4"),
        ("ستخدم المستشفيات المرضى حتى عام 20 بحسب وزارة الصحة.", "number not in the sources: 20"),
        ("قالت وكالة Bloomberg إن وزارة الصحة افتتحت مستشفيات جديدة.", "Latin-script name"),
    ],
)
def test_facts_absent_from_the_sources_are_rejected(summary: str, reason: str) -> None:
    found = check_summary(summary, SOURCES)
    assert found is not None and found.startswith(reason)


def test_loops_are_rejected() -> None:
    assert "repeats itself" in check_summary("أمطار " * 8, SOURCES)
    looping = "افتتحت وزارة الصحة مستشفيات جديدة في الرياض افتتحت وزارة الصحة مستشفيات جديدة"
    assert "repeats itself" in check_summary(looping, SOURCES)
    assert "repeats itself" not in (check_summary(FAITHFUL, SOURCES) or "")


def test_non_arabic_and_bad_lengths_are_rejected() -> None:
    english = "The Saudi health ministry opened three new hospitals in Riyadh today."
    assert check_summary(english, SOURCES).startswith("not mostly Arabic")
    assert check_summary("Министерство здравоохранения открыло больницы", SOURCES).startswith(
        "not mostly Arabic"
    )
    assert check_summary("   ", SOURCES) == "empty summary"
    assert check_summary("افتتاح مستشفيات", SOURCES).startswith("too short")
    long = " ".join(f"وزارة الصحة افتتحت مستشفيات الرياض {w}" for w in ("أمس", "اليوم", "غدا"))
    assert check_summary(long, SOURCES, max_words=10).startswith("too long")


# ---- through the stage: a rejected summary is replaced by the extractive one ---------------


Canned = Callable[[dict[str, str]], Any]


@pytest.fixture(scope="module")
def canned() -> Iterator[Canned]:
    """A factory: the real summarizer (tiny model) whose generation returns set outputs."""
    pytest.importorskip("transformers")
    from briefing.summarize.abstractive import AbstractiveSummarizer
    from tests.tiny_model import tiny_model_dir

    class CannedSummarizer(AbstractiveSummarizer):
        outputs: dict[str, str]

        def _generate(self, texts: list[str]) -> list[str]:
            # Fault injection: the output for the story whose headline opens the input.
            return [self.outputs[text.split("\n")[0]] for text in texts]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        settings = Abstractive(enabled=True, model=str(tiny_model_dir()), quantize=False)
        real = AbstractiveSummarizer.load(settings)

    def make(outputs: dict[str, str]) -> CannedSummarizer:
        summarizer = CannedSummarizer(real.model, real.tokenizer, settings, real.device)
        summarizer.outputs = outputs
        return summarizer

    yield make


def test_stage_replaces_unfaithful_summaries_with_extractive_ones(
    canned: Canned, tmp_path: Path
) -> None:
    from briefing.summarize.abstractive import summarize_stories

    outputs = {
        "faithful": FAITHFUL,
        "number": "افتتحت وزارة الصحة 7 مستشفيات جديدة في الرياض اليوم.",
        "name": "قالت وكالة Bloomberg إن وزارة الصحة افتتحت مستشفيات جديدة.",
        "loop": "مستشفيات جديدة في الرياض مستشفيات جديدة في الرياض مستشفيات جديدة في الرياض",
        "english": "The Saudi health ministry opened three new hospitals in Riyadh today.",
    }
    items = [_story(headline) for headline in outputs]
    keys_of = {story.id: keys for story, keys in items}
    store = Store(f"sqlite:///{tmp_path / 'briefing.db'}")
    settings = Abstractive(enabled=True, model="tiny", quantize=False)
    summaries, counts = summarize_stories(items, canned(outputs), store, settings)
    store.close()
    by_id = {s.story_id: s for s in summaries}
    assert by_id["faithful"].abstract == FAITHFUL and by_id["faithful"].fallback_reason is None
    for name, why in [
        ("number", "number not in the sources: 7"),
        ("name", "Latin-script name not in the sources: bloomberg"),
        ("loop", "repeats itself"),
        ("english", "not mostly Arabic"),
    ]:
        summary = by_id[name]
        assert summary.abstract is None, name
        assert summary.key_sentences == keys_of[name], "the extractive summary stands in"
        assert summary.fallback_reason.startswith(f"rejected by the guard: {why}"), name
    assert counts == {
        "abstractive": 1,
        "extractive": 4,
        "cached": 0,
        "rejected": 4,
        "unavailable": 0,
        "failed": 0,
    }


def _story(headline: str) -> tuple[Story, tuple[KeySentence, ...]]:
    articles = tuple(
        Article(
            id=f"{headline}-{i}",
            feed="feed",
            source=f"source {i}",
            section="news",
            url=f"https://example.com/{headline}/{i}",
            title=headline,
            text=text,
            published=datetime(2026, 1, 5, 6, tzinfo=UTC),
        )
        for i, text in enumerate(SOURCES)
    )
    keys = tuple(KeySentence(text=a.text, article_id=a.id, sources=(a.source,)) for a in articles)
    return Story(id=headline, articles=articles, section="news"), keys
