"""The Arabic sentence splitter, on made-up cases and on the real texts in ../shared/data."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest

from briefing.arabic import normalize
from briefing.arabic.sentences import split_paragraphs, split_sentences, without_dateline
from tests.shared_data import SHARED_DATA, requires_shared_data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ذهب الولد. عاد المساء", ["ذهب الولد.", "عاد المساء"]),
        ("هل جاء؟ نعم! جاء؛ ثم غادر?", ["هل جاء؟", "نعم!", "جاء؛", "ثم غادر?"]),
        ("السطر الأول\nالسطر الثاني", ["السطر الأول", "السطر الثاني"]),
        ("ارتفع المؤشر 3.5 في المئة. وتراجع", ["ارتفع المؤشر 3.5 في المئة.", "وتراجع"]),
        ("بلغ العدد 1,200 شخص. ثم زاد", ["بلغ العدد 1,200 شخص.", "ثم زاد"]),
        ("قال أ.د. سمير إن الخطة جاهزة. وأضاف", ["قال أ.د. سمير إن الخطة جاهزة.", "وأضاف"]),
        ("وصل د. أحمد أمس. ثم تحدث", ["وصل د. أحمد أمس.", "ثم تحدث"]),
        ("زار جون ف. كينيدي برلين. ثم عاد", ["زار جون ف. كينيدي برلين.", "ثم عاد"]),
        ("Mr. Smith met the U.S. envoy. Then left", ["Mr. Smith met the U.S. envoy.", "Then left"]),
        ("ولد عام 1770 م. ثم انتقل", ["ولد عام 1770 م.", "ثم انتقل"]),
        ("منذ عام 2000 ق.م. في ملحمة جلجامش", ["منذ عام 2000 ق.م. في ملحمة جلجامش"]),
        ("بركان فيزوف (79 ق.م) والهزات. بعدها", ["بركان فيزوف (79 ق.م) والهزات.", "بعدها"]),
        ("بنيت حوالي 2480 ق.م، وهي ثلاثة. ثم", ["بنيت حوالي 2480 ق.م، وهي ثلاثة.", "ثم"]),
        ("راسلونا على ص.ب 1200 في الرياض", ["راسلونا على ص.ب 1200 في الرياض"]),
        ("بلغ مليون متر مكعّب.يخسف القمر", ["بلغ مليون متر مكعّب.", "يخسف القمر"]),
        ("السباق 50 م.في سباحة الظهر", ["السباق 50 م.", "في سباحة الظهر"]),
        (
            "قالت شبكة (إيه.بي.سي) إن الاجتماع انتهى. ثم",
            ["قالت شبكة (إيه.بي.سي) إن الاجتماع انتهى.", "ثم"],
        ),
        (
            "وقال تلفزيون سي.إن.إن ترك إن ثلاثة أصيبوا",
            ["وقال تلفزيون سي.إن.إن ترك إن ثلاثة أصيبوا"],
        ),
        ("انتهى العام.من جهة أخرى", ["انتهى العام.", "من جهة أخرى"]),
        ("بنيت حوالي 2550 ق. م، وهي ثلاثة", ["بنيت حوالي 2550 ق. م، وهي ثلاثة"]),
        ("ولد عام 1770 م. و لم يعد", ["ولد عام 1770 م.", "و لم يعد"]),
        (
            "ندين الإرهاب بكل أشكاله ( .. ) وندعو للحوار. ثم",
            ["ندين الإرهاب بكل أشكاله ( .. ) وندعو للحوار.", "ثم"],
        ),
        ('قال: نعم. "ثم ذهب" إلى بيته', ["قال: نعم.", '"ثم ذهب" إلى بيته']),
        ('قال: "ذهبنا. وعدنا." ثم غادر.', ['قال: "ذهبنا. وعدنا."', "ثم غادر."]),
        ("قال «لن نتراجع. أبدا» وغادر. انتهى", ["قال «لن نتراجع. أبدا» وغادر.", "انتهى"]),
        ("قال “هذا صحيح. تماما” ومضى. بعدها", ["قال “هذا صحيح. تماما” ومضى.", "بعدها"]),
        ("انتهى الاجتماع.بدأ التصويت", ["انتهى الاجتماع.", "بدأ التصويت"]),
        ("زوروا bbc.com اليوم. شكرا", ["زوروا bbc.com اليوم.", "شكرا"]),
        ("لماذا؟؟ لا أعرف... ربما!", ["لماذا؟؟", "لا أعرف...", "ربما!"]),
        ("خبر عاجل !", ["خبر عاجل !"]),
        ("", []),
        ("  \n\n ", []),
    ],
)
def test_splits_where_a_reader_would(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_keeps_text_exactly_as_published() -> None:
    text = "كَتَبَ الطالبُ الدرسَ. إلى اللقاء"
    assert split_sentences(text) == ["كَتَبَ الطالبُ الدرسَ.", "إلى اللقاء"]


def test_an_open_quote_does_not_swallow_the_article() -> None:
    text = "قال «إنه سيعود. " + "ثم جاء الخبر. " * 200
    assert len(split_sentences(text)) > 150


def test_joins_hard_wrapped_lines_but_not_paragraphs() -> None:
    wrapped = (
        "أعلنت الهيئة اليوم عن خطة جديدة لتطوير شبكات الاتصالات في جميع المناطق\n"
        "وقالت إن الخطة ستنفذ على ثلاث مراحل تبدأ مطلع العام المقبل وتستمر حتى\n"
        "نهاية العقد. وأضافت أن التكلفة الإجمالية للمشروع ستعلن في وقت لاحق بعد\n"
        "استكمال الدراسات الفنية اللازمة.\n"
        "عنوان فرعي\n"
        "وفي سياق متصل أكد مسؤول في الهيئة أن العمل جار على إعداد الوثائق المطلوبة\n"
        "لطرح المناقصات خلال الأشهر القليلة القادمة وفق الجدول الزمني المعتمد\n"
    )
    paragraphs = split_paragraphs(wrapped)
    assert [len(p) for p in paragraphs] == [2, 1, 1]
    assert paragraphs[0][0].startswith("أعلنت") and paragraphs[0][0].endswith("العقد.")
    assert paragraphs[1] == ["عنوان فرعي"]


def test_a_paragraph_of_many_short_quotations_is_split_in_linear_time() -> None:
    # Every full stop sits inside a quotation; checking all quotations at each one was
    # quadratic (13.5 s for 140 KB).
    text = '"ب. ج" ' * 20_000
    start = time.perf_counter()
    sentences = split_sentences(text)
    assert time.perf_counter() - start < 2
    assert sentences == [text.strip()]


def test_huge_text_without_punctuation_is_quick_and_whole() -> None:
    text = " ".join(["كلمة"] * 100_000)
    assert split_sentences(text) == [text]


def _real_texts() -> list[str]:
    assert SHARED_DATA is not None
    texts: list[str] = []
    with (SHARED_DATA / "easc" / "easc.jsonl").open(encoding="utf-8") as lines:
        texts.extend(json.loads(line)["text"] for line in lines)
    feed = SHARED_DATA / "ant_multisource" / "feed_window_2018-04-01_07.jsonl"
    with feed.open(encoding="utf-8") as lines:
        texts.extend(json.loads(line)["text"] or "" for line in lines)
    return texts


@requires_shared_data
def test_real_texts_lose_nothing_and_never_cut_a_number() -> None:
    split_inside_number = 0
    for text in _real_texts():
        sentences = split_sentences(text)
        assert re.sub(r"\s", "", "".join(sentences)) == re.sub(r"\s", "", text)
        for before, after in itertools.pairwise(sentences):
            # "62.5" cut in two; "... 2004. 2- next item" (a space between) is a real end.
            cut = re.search(r"\d[.,]$", before) and re.match(r"\d", after)
            if cut and before[-20:] + after[:20] in text:
                split_inside_number += 1
    assert split_inside_number == 0


# A word of one letter (tashkeel aside) then a full stop, at the end; a word of one letter
# at the start.
_LONE_LETTER_END = re.compile(r"(?:^|[^\w\u064b-\u0652\u0670])[^\W\d_][\u064b-\u0652\u0670]*\.$")
_LONE_LETTER_START = re.compile(r"[^\W\d_][\u064b-\u0652\u0670]*(?![\w\u064b-\u0652\u0670])")


# Latin letters spelled out in Arabic, as in سي.إن.إن (CNN), at the end and at the start.
_SPELLED = "(?:إيه|ايه|بي|سي|دي|إف|اف|آي|إن|ان|إس|اس|تي|كيه)"
_SPELLED_END = re.compile(rf"(?:^|[^\w]){_SPELLED}\.$")
_SPELLED_START = re.compile(rf"{_SPELLED}(?![\w])")


@requires_shared_data
def test_real_texts_never_cut_letters_joined_by_a_full_stop() -> None:
    """ "2000 ق.م" (before Christ), "ص.ب" (P.O. box): single letters joined by a full stop,
    no space between, are one abbreviation, not a sentence end."""
    cuts = []
    for text in _real_texts():
        for before, after in itertools.pairwise(split_sentences(text)):
            lone = _LONE_LETTER_END.search(before) and _LONE_LETTER_START.match(after)
            acronym = _SPELLED_END.search(before) and _SPELLED_START.match(after)
            if (lone or acronym) and before[-20:] + after[:20] in text:  # no space: one word
                cuts.append(before[-20:] + " | " + after[:20])
    assert cuts == []


@requires_shared_data
def test_real_texts_keep_quotes_titles_and_brackets_whole() -> None:
    """On the real texts: no sentence starts with a closing bracket or quote, none ends on a
    title before a name (د. أحمد), and none is cut inside a «...» quotation on one line."""
    problems = []
    for text in _real_texts():
        for before, after in itertools.pairwise(split_sentences(text)):
            joined = before[-20:] + " " + after[:20] in text
            if after[:1] in "”’»)]}":
                problems.append(("starts with a closer", before[-20:], after[:20]))
            if joined and re.search(r"(?:^|\s)(?:د|أ\.د)\.$", before):
                problems.append(("cut after a title", before[-20:], after[:20]))
            open_quote = before.count("«") > before.count("»")
            if joined and open_quote and "»" in after.split("\n")[0]:
                problems.append(("cut inside a quotation", before[-20:], after[:20]))
    assert problems == []


@requires_shared_data
def test_real_human_summaries_reuse_our_sentences() -> None:
    """EASC summaries were made of article sentences: most of their sentences, as we split
    them, must be sentences of the article as we split it. (Not all: the corpus's own tool cut
    inside numbers like 62.5 and truncated long sentences, which we deliberately do not.)"""
    assert SHARED_DATA is not None

    def key(sentence: str) -> str:
        return re.sub(r"\s", "", normalize(sentence))

    found = total = 0
    with (SHARED_DATA / "easc" / "easc.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            article = {key(s) for s in split_sentences(row["text"])}
            for summary in row["summaries"]:
                for sentence in split_sentences(summary["text"]):
                    total += 1
                    found += key(sentence) in article
    assert total > 3000
    assert found / total >= 0.75


@pytest.mark.parametrize(
    ("text", "news"),
    [
        ("دبي، الإمارات العربية المتحدة (CNN) -- أسقطت الولايات المتحدة", "أسقطت الولايات المتحدة"),
        ("دبي، الإمارات العربية المتحدة (CNN)— قال منصور", "قال منصور"),
        ("دبي، الإمارات العربية المتحدة (CNN) –\xa0 أدى انفجار", "أدى انفجار"),
        ("(CNN)-- أعلنت الحكومة", "أعلنت الحكومة"),
        ("واشنطن (Reuters) - قال مسؤول", "قال مسؤول"),
        # Not datelines: left exactly as they are.
        ("قالت منظمة الصحة العالمية إن الوباء انحسر.", None),
        ("أعلنت الشركة (Apple) نتائجها", None),  # no dash after the parenthesis
        ("نص أول\nدبي (CNN) -- نص ثان", None),  # only where the text starts
        (
            "أعلنت وزارة الصحة عن خطة جديدة لمكافحة الوباء في كل المحافظات خلال عامين، بحسب بيان "
            "صادر عنها (WHO) - وقال الوزير",
            None,
        ),  # the parenthesis too far in to be a dateline
    ],
)
def test_a_leading_dateline_is_left_out_and_the_rest_kept_as_published(
    text: str, news: str | None
) -> None:
    assert without_dateline(text) == (text if news is None else news)
