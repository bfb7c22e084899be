"""The extractive summarizer: single texts, multi-source stories, the JSONL command, bad input,
speed, and the quality gate on EASC dev (real human summaries)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from briefing import cli
from briefing.arabic import content_tokens
from briefing.arabic.sentences import split_sentences
from briefing.cluster_eval import labelled_stories
from briefing.models import Article, Story
from briefing.summarize import (
    SummarizeInputError,
    summarize_jsonl,
    summarize_story,
    summarize_text,
)
from briefing.summarize.extractive import Weights, rank_text
from tests.shared_data import SHARED_DATA, requires_shared_data

NEWS = (
    "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير.\n"
    "وقال الوزير إن المستشفى سيخدم أكثر من مليون نسمة في الأحياء الجنوبية.\n"
    "وأضاف أن تكلفة المشروع بلغت 3.5 مليار دينار.\n"
    "ويضم المستشفى الجديد أقساما للطوارئ والجراحة والأطفال.\n"
    "وكان العمل في المشروع قد بدأ قبل أربع سنوات.\n"
    "وتخطط الوزارة لافتتاح مستشفيين آخرين في الشمال خلال العام المقبل.\n"
)


def _words(sentences: list[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def test_picks_whole_published_sentences_in_reading_order() -> None:
    summary = summarize_text(NEWS, "افتتاح مستشفى جديد في العاصمة", sentences=3)
    sentences = split_sentences(NEWS)
    assert len(summary) == 3
    assert all(s in sentences for s in summary)
    assert summary == sorted(summary, key=sentences.index)
    assert summary[0] == sentences[0]  # the lead carries the news


def test_word_budget_is_met_with_whole_sentences() -> None:
    summary = summarize_text(NEWS, words=25)
    assert _words(summary) >= 25
    assert _words(summary[:-1]) < 25 or len(summary) == 1


def test_default_budget_is_three_sentences() -> None:
    assert len(summarize_text(NEWS)) == 3


def test_a_repeated_sentence_is_taken_once() -> None:
    first = split_sentences(NEWS)[0]
    text = f"{first}\n{first}\n{NEWS}"
    summary = summarize_text(text, sentences=4)
    assert summary.count(first) == 1


def test_a_sentence_that_echoes_the_title_ranks_higher() -> None:
    text = (
        "تراجعت أسعار النفط في الأسواق العالمية صباح اليوم.\n"
        "وقال محللون إن الطلب تراجع بسبب الركود.\n"
        "وافتتح الوزير مستشفى جديدا في العاصمة بحضور المسؤولين.\n"
        "وتوقعت الوكالة أن تستمر الأسعار في التراجع.\n"
    )
    echo = split_sentences(text)[2]
    with_title = rank_text(text, "افتتاح مستشفى جديد في العاصمة")
    assert with_title.index(echo) == 1 < rank_text(text).index(echo)


def test_a_fragment_in_the_lead_is_pushed_down_by_its_length() -> None:
    text = (
        "عاجل الآن.\n"
        "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير.\n"
        "وقال الوزير إن المستشفى سيخدم أكثر من مليون نسمة.\n"
    )
    assert rank_text(text)[0] != "عاجل الآن."
    assert rank_text(text, weights=Weights(length=0.0))[0] == "عاجل الآن."


CENTRALITY_ONLY = Weights(position=0.0, length=0.0, title=0.0, centrality=1.0)


def test_the_sentence_the_others_echo_is_the_most_central() -> None:
    hub = "زار الوزير المستشفى الجديد في العاصمة وتفقد قسم الطوارئ"
    text = (
        "تراجعت أسعار النفط في الأسواق العالمية.\n"
        "افتتح الوزير المستشفى الجديد صباح اليوم.\n"
        f"{hub}.\n"
        "وفي العاصمة ازدحمت الطرق بسبب الأمطار.\n"
        "ويستقبل قسم الطوارئ المرضى منذ الفجر.\n"
    )
    assert rank_text(text, weights=CENTRALITY_ONLY)[0] == f"{hub}."


def test_sentences_that_share_no_words_still_give_a_summary() -> None:
    text = "تراجعت أسعار النفط اليوم.\nفاز الفريق بالمباراة.\nهطلت أمطار غزيرة."
    assert summarize_text(text, sentences=1, weights=CENTRALITY_ONLY) == [
        "تراجعت أسعار النفط اليوم."
    ]


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_input_gives_no_sentences(text: str) -> None:
    assert summarize_text(text) == []


def test_punctuation_only_input_is_returned_not_crashed_on() -> None:
    assert summarize_text("!!! ... ؟") == ["!!! ... ؟"]


def test_one_sentence_is_its_own_summary() -> None:
    assert summarize_text("وصل الوفد إلى المدينة صباح اليوم", words=50) == [
        "وصل الوفد إلى المدينة صباح اليوم"
    ]


def test_text_without_arabic_is_summarized_too() -> None:
    text = "The council met on Monday. It approved the budget. Critics said it was too late."
    summary = summarize_text(text, sentences=1)
    assert summary == ["The council met on Monday."]


def test_hundred_thousand_words_return_quickly_and_bounded() -> None:
    unpunctuated = " ".join(["كلمة", "أخرى", "ثالثة", "رابعة"] * 25_000)
    punctuated = "ذهب الوفد إلى المدينة واجتمع بالمسؤولين هناك. " * 14_300
    for text in (unpunctuated, punctuated):
        start = time.perf_counter()
        summary = summarize_text(text, words=60)
        assert time.perf_counter() - start < 5
        assert len(summary) >= 1 and _words(summary) <= 200
        assert all(s in text for s in summary)


@pytest.mark.parametrize(("sentences", "words"), [(0, None), (None, -5)])
def test_a_budget_below_one_is_a_clear_error(sentences: int | None, words: int | None) -> None:
    with pytest.raises(ValueError, match="budget"):
        summarize_text(NEWS, sentences=sentences, words=words)


def _article(number: int, source: str, text: str, minutes: int = 0, title: str = "") -> Article:
    return Article(
        id=f"a{number}",
        feed=source,
        source=source,
        section="news",
        url=f"https://example.org/{number}",
        title=title or "افتتاح مستشفى جديد",
        text=text,
        published=datetime(2018, 4, 1, 8, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_story_merges_what_several_sources_said_and_names_them_all() -> None:
    shared = "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير."
    story = Story(
        id="s1",
        section="news",
        articles=(
            _article(1, "وكالة أ", NEWS, minutes=0),
            _article(
                2,
                "وكالة ب",
                f"{shared[:-1]}، حسب بيان رسمي.\nوقال مدير المستشفى إن العمل "
                "سيبدأ الأسبوع المقبل بكامل الطاقم الطبي.",
                minutes=30,
            ),
            _article(
                3, "وكالة ج", f"{shared}\nوتعد هذه المنشأة الأكبر من نوعها في البلاد.", minutes=60
            ),
        ),
    )
    key = summarize_story(story, sentences=3)
    assert len(key) == 3
    lead = key[0]
    assert lead.text == shared and lead.article_id == "a1"
    assert lead.sources == ("وكالة أ", "وكالة ب", "وكالة ج")
    articles = {a.id: a for a in story.articles}
    for sentence in key:
        assert sentence.text in articles[sentence.article_id].text
    assert len({s.text for s in key}) == 3


def test_story_shows_the_best_formed_copy_and_reads_leads_first() -> None:
    shared = "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير."
    cut = shared.removesuffix(" سرير.")  # the earliest feed cut the sentence short
    story = Story(
        id="s1",
        section="news",
        articles=(
            _article(2, "وكالة ب", f"{shared}\nوقال الوزير إن المستشفى سيخدم مليون نسمة.", 30),
            _article(1, "وكالة أ", f"{cut}\nوبدأ العمل في المشروع قبل أربع سنوات.", 0),
        ),
    )
    key = summarize_story(story, sentences=3)
    [lead] = [k for k in key if shared.startswith(k.text.removesuffix(" سرير."))]
    assert lead.text == shared and lead.article_id == "a2"
    assert lead.sources == ("وكالة أ", "وكالة ب")  # the earliest source first
    articles = {a.id: a for a in story.articles}
    order = [
        (
            split_sentences(articles[k.article_id].text).index(k.text),
            articles[k.article_id].published,
        )
        for k in key
    ]
    assert order == sorted(order)


def test_a_sentence_that_goes_on_never_comes_before_another_sources_opening() -> None:
    # The earlier report's second sentence ("وأضاف ...") must not open the key sentences
    # ahead of the later report's lead.
    earlier = (
        "قال وزير الدفاع الأمريكي إن بلاده ستواصل دعم حلفائها في المنطقة خلال العام المقبل.\n"
        "وأضاف الوزير أن طريقا وعرا ينتظر المفاوضات بين الأطراف المتنازعة في الأشهر المقبلة."
    )
    later = "وصل وزير الدفاع الأمريكي إلى سنغافورة للمشاركة في منتدى أمني يجمع وزراء من آسيا."
    story = Story(
        id="s1",
        section="news",
        articles=(
            _article(1, "وكالة أ", earlier, 0, title="وزير الدفاع الأمريكي في سنغافورة"),
            _article(2, "وكالة ب", later, 30, title="وزير الدفاع الأمريكي في سنغافورة"),
        ),
    )
    texts = [k.text for k in summarize_story(story, sentences=3)]
    assert texts.index(later) < texts.index(earlier.splitlines()[1])


def test_another_sources_retelling_is_not_taken_but_credited() -> None:
    told = "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير."
    retold = (
        "وافتتحت وزارة الصحة مستشفى جديدا في العاصمة يتسع لخمسمئة سرير، بحسب بيان نشرته "
        "مساء الأحد على موقعها."
    )
    story = Story(
        id="s1",
        section="news",
        articles=(
            _article(1, "وكالة أ", f"{told}\nوبدأ العمل في المشروع قبل أربع سنوات.", 0),
            _article(2, "وكالة ب", f"{retold}\nوتعد المنشأة الأكبر من نوعها في البلاد.", 30),
        ),
    )
    key = summarize_story(story, sentences=3)
    assert [k.text for k in key if k.text in (told, retold)] == [told]
    assert key[0].sources == ("وكالة أ", "وكالة ب")


def test_a_story_of_many_huge_articles_stays_bounded() -> None:
    # 30 articles of 300 different sentences: 9,000 candidates would need gigabytes of
    # similarity matrices; each article gives only its leading sentences.
    vocabulary = NEWS.replace(".", "").split()
    generator = random.Random(7)

    def article_text(n: int) -> str:
        return "\n".join(" ".join(generator.sample(vocabulary, 9)) + "." for _ in range(300))

    articles = tuple(_article(n, f"مصدر {n}", article_text(n), minutes=n) for n in range(30))
    start = time.perf_counter()
    key = summarize_story(Story(id="big", section="news", articles=articles), sentences=3)
    assert time.perf_counter() - start < 10
    assert len(key) == 3


def test_a_key_sentence_starts_where_the_news_does_not_at_the_dateline() -> None:
    # Nearly every CNN Arabic article opens with one; the sources line already names CNN.
    lead = "افتتحت وزارة الصحة اليوم مستشفى جديدا في العاصمة بسعة خمسمئة سرير."
    text = f"دبي، الإمارات العربية المتحدة (CNN)-- {lead}\n{NEWS}"
    story = Story(id="s1", section="news", articles=(_article(1, "CNN", text),))
    sentences = [k.text for k in summarize_story(story, sentences=2)]
    assert sentences[0] == lead
    assert all("CNN" not in s for s in sentences)


def test_story_with_empty_articles_uses_descriptions_or_gives_nothing() -> None:
    empty = Story(id="s", section="news", articles=(_article(1, "أ", ""),))
    assert summarize_story(empty) == ()
    teaser = replace(_article(2, "ب", ""), description="وصل الوفد إلى المدينة صباح اليوم.")
    key = summarize_story(Story(id="s2", section="news", articles=(teaser,)))
    assert [k.text for k in key] == ["وصل الوفد إلى المدينة صباح اليوم."]


# ---- real data -------------------------------------------------------------------------


def _labelled_stories() -> list[Story]:
    assert SHARED_DATA is not None
    return labelled_stories(SHARED_DATA)


def _overlap(a: str, b: str) -> float:
    """Share of the shorter sentence's content words found in the other (independent of the
    summarizer's own TF-IDF measure)."""
    x, y = set(content_tokens(a)), set(content_tokens(b))
    return len(x & y) / max(1, min(len(x), len(y)))


@requires_shared_data
def test_real_stories_have_no_near_duplicates_and_credit_every_source() -> None:
    """Two sources telling the same fact give one sentence, crediting both. (On these stories
    the pairs that share 0.6 or more of their words say the same thing; below 0.5 across
    sources they mostly tell different facts of the story.)"""
    stories = _labelled_stories()
    assert len(stories) > 40
    for story in stories:
        key = summarize_story(story, sentences=4)
        assert key, story.id
        for i, a in enumerate(key):
            for b in key[i + 1 :]:
                assert _overlap(a.text, b.text) < 0.6, (story.id, a.text, b.text)
        for sentence in key:
            for article in story.articles:
                carried = any(
                    _overlap(sentence.text, s) >= 0.75 and len(content_tokens(s)) >= 5
                    for s in split_sentences(article.text)
                )
                if carried:
                    assert article.source in sentence.sources, (story.id, sentence.text)


@requires_shared_data
def test_jsonl_command_reads_easc_as_it_is(tmp_path: Path) -> None:
    assert SHARED_DATA is not None
    source = SHARED_DATA / "easc" / "easc.jsonl"
    output = tmp_path / "out" / "summaries.jsonl"
    assert summarize_jsonl(source, output, words=80) == 153
    lines = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    assert lines[0]["id"] == "Topic1" and set(lines[0]) == {"id", "summary"}
    assert all(70 <= len(line["summary"].split()) < 300 for line in lines)


def test_jsonl_line_budgets_win_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": 1, "text": NEWS, "sentences": 1},
        {"id": "b", "text": NEWS, "title": "x"},
        {"id": "w", "text": NEWS, "words": 30},
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    assert summarize_jsonl(source, tmp_path / "out.jsonl", sentences=2) == 3
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert [o["id"] for o in out] == [1, "b", "w"]
    assert len(split_sentences(out[0]["summary"])) == 1
    assert len(split_sentences(out[1]["summary"])) == 2
    by_words = summarize_text(NEWS, words=30)  # its own word budget, not 2 sentences
    assert out[2]["summary"] == " ".join(by_words) and len(by_words) == 3


@requires_shared_data
def test_the_summarize_command_reads_easc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert SHARED_DATA is not None
    output = tmp_path / "s.jsonl"
    argv = ["summarize", "--input", str(SHARED_DATA / "easc" / "easc.jsonl")]
    assert cli.main([*argv, "--output", str(output), "--sentences", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"{output}: 153 summaries"
    lines = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    with (SHARED_DATA / "easc" / "easc.jsonl").open(encoding="utf-8") as rows:
        texts = [json.loads(row)["text"] for row in rows]
    assert [x["summary"] for x in lines] == [
        " ".join(summarize_text(text, sentences=2)) for text in texts
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"text": "نص"}', '"id"'),
        ('{"id": 1}', '"text"'),
        ('{"id": 1, "text": "نص", "words": 0}', '"words"'),
        ('{"id": 1, "text": "نص", "words": 5, "sentences": 1}', "not both"),
    ],
)
def test_jsonl_bad_line_names_its_number(tmp_path: Path, line: str, problem: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(f'{{"id": 0, "text": "نص"}}\n\n{line}\n', encoding="utf-8")
    output = tmp_path / "out.jsonl"
    with pytest.raises(SummarizeInputError, match=f":3: .*{problem}") as error:
        summarize_jsonl(source, output)
    assert error.value.line == 3
    assert not output.exists()


def test_a_full_word_cache_starts_afresh_and_changes_no_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from briefing.summarize import extractive

    expected = summarize_text(NEWS, sentences=2)
    ranking = extractive.rank_text(NEWS)
    # A cache this small is full after every text: learning one clears it first.
    monkeypatch.setattr(extractive, "_WORD_CACHE", 5)
    for _ in range(3):
        for cache in ("_WORD_CODES", "_WORD_STEMS", "_STEM_IDS"):
            monkeypatch.setattr(extractive, cache, {})
        # Learned earlier: one word of this text (known, so not learned again) and another.
        extractive._learn([NEWS.split()[0], "كلمة-من-قبل"])
        assert summarize_text(NEWS, sentences=2) == expected
        assert "كلمة-من-قبل" not in extractive._WORD_CODES
        assert extractive.rank_text(NEWS) == ranking
