"""The guard on real summaries: false rejects and caught fabrications, before and after.

Part one, numbers: read in digits only (before) beside digits and words
(`briefing.arabic.numbers`, now).

Real summaries that are true to their article (so every rejection is a false one):
- `bbc_editors`: BBC Arabic editors' summaries (`bbc_summ_2018-03`, `-09`) against the
  article's title and text;
- `feed_abstracts`: the April week's feed descriptions against the article's title and text;
- `leads`: each April article's first sentences up to 25 words (at most 60), against its
  title, description and text.
Made-up errors, built from those summaries that both readings pass (each should be rejected):
- `wrong_word`: a number written in words changed to another ("ثلاثة" -> "سبعة") whose value
  no source number has;
and rewritings that keep the facts (each should pass):
- `digits_as_words`: a number the summary writes in digits (3 to 10, or tens) written in
  words instead ("5 أشخاص" -> "خمسة أشخاص").

Part two, `about_something_else`: summaries of another article (a fixed shuffle) refused by
the guard without the new-words rule (before) and with it (now), beside the rule's own false
rejects of each summary against its own article; on the development sets (BBC March, the
April week), where its threshold was chosen, and on the evaluation sets (BBC September, the
June week), reported, never tuned on.

Part three, `negation`: the negation rule's false rejects on true summaries, and summaries
with a negation put in or taken out, refused without the rule (before) and with it (now),
on the same four sets.

    PYTHONPATH=. python -m benchmarks.guard
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import nullcontext
from decimal import Decimal
from unittest import mock

from benchmarks._common import emit, shared_data
from briefing.arabic import normalize, tokenize
from briefing.arabic.numbers import written_numbers
from briefing.arabic.sentences import split_sentences
from briefing.summarize import guard
from briefing.summarize.guard import check_summary

# A number word and the words to put in its place, each with another value.
_SWAPS = {"ثلاثة": "سبعة", "سبعة": "ثلاثة", "أربعة": "تسعة", "تسعة": "أربعة", "خمسة": "ثمانية",
          "ثمانية": "خمسة", "ستة": "أربعة", "عشرة": "ستة", "ثلاث": "سبع", "سبع": "ثلاث",
          "أربع": "تسع", "تسع": "أربع", "خمس": "ثمان", "ست": "أربع", "عشر": "ست",
          "عشرين": "ثلاثين", "ثلاثين": "عشرين", "أربعين": "خمسين", "خمسين": "أربعين",
          "عشرون": "ثلاثون", "ثلاثون": "عشرون", "مئة": "مئتي", "مائة": "مئتي"}  # fmt: skip
_IN_WORDS = {"3": "ثلاثة", "4": "أربعة", "5": "خمسة", "6": "ستة", "7": "سبعة", "8": "ثمانية",
             "9": "تسعة", "10": "عشرة", "20": "عشرين", "30": "ثلاثين", "40": "أربعين",
             "50": "خمسين"}  # fmt: skip
Pair = tuple[str, list[str]]  # a summary and its sources
# Where the rules were shaped, and where they are only reported (../shared/data's README).
_SPLITS = (
    ("development", "bbc_summ_2018-03"),
    ("development", "feed_window_2018-04-01_07"),
    ("evaluation", "bbc_summ_2018-09"),
    ("evaluation", "feed_window_2018-06-01_07"),
)


def main() -> None:
    data = shared_data() / "ant_multisource"
    bbc = [row for name in ("03", "09") for row in _rows(data / f"bbc_summ_2018-{name}.jsonl")]
    april = list(_rows(data / "feed_window_2018-04-01_07.jsonl"))
    sets: dict[str, list[Pair]] = {
        "bbc_editors": [(r["abstract"], [r["title"], r["text"]]) for r in bbc if r["abstract"]],
        "feed_abstracts": [
            (r["abstract"], [r["title"], r["text"]]) for r in april if r["abstract"]
        ],
        "leads": [
            (lead, [r["title"], r["abstract"] or "", r["text"]])
            for r in april
            if (lead := _lead(r["text"]))
        ],
    }
    # Rewritings of the summaries that both readings pass, so that a rejection is the
    # rewriting's doing.
    true_ones = [pair for pairs in sets.values() for pair in pairs if not _number_reason(pair)]
    sets["wrong_word"] = [m for pair in true_ones for m in _wrong_words(pair)]
    sets["digits_as_words"] = [m for pair in true_ones for m in _in_words(pair)]
    numbers: dict[str, object] = {}
    for name, pairs in sets.items():
        numbers[name] = {
            "summaries": len(pairs),
            "rejected_for_numbers": {
                "digits only (before)": _number_rejects(pairs, words=False),
                "digits and words (now)": _number_rejects(pairs, words=True),
            },
        }
    elsewhere = {
        f"{split}: {name}": _about_something_else(list(_rows(data / f"{name}.jsonl")))
        for split, name in _SPLITS
    }
    negation = {
        f"{split}: {name}": _negation(list(_rows(data / f"{name}.jsonl")))
        for split, name in _SPLITS
    }
    emit({"numbers": numbers, "about_something_else": elsewhere, "negation": negation})


_NEGATED = re.compile(r"(?<!\w)(?:لم|لن|لا) (?!يزال|تزال)(?=\w)")
_VERB = re.compile(r"(?<= )(?=[يت]\w{3,})")  # before a word that may be a verb (يعلن, تنسحب)


def _negation(rows: list[dict]) -> dict[str, object]:  # type: ignore[type-arg]
    """The negation rule on true summaries (its false rejects), and on summaries with a
    negation put in ("لم" before the first word that may be a verb) or taken out (the first
    "لم"/"لن"/"لا" dropped), each refused by the guard without the rule and with it."""
    pairs = [(r["abstract"], [r["title"], r["text"]]) for r in rows if r["abstract"]]
    true_ones = [pair for pair in pairs if _reason(pair) is None]
    added = [
        (_VERB.sub("لم ", summary, count=1), sources)
        for summary, sources in true_ones
        if _VERB.search(summary)
    ]
    dropped = [
        (_NEGATED.sub("", summary, count=1), sources)
        for summary, sources in true_ones
        if _NEGATED.search(summary)
    ]
    own = [pair for pair in pairs if (_reason(pair) or "").startswith("negation")]
    result: dict[str, object] = {"summaries": len(pairs), "true_ones_refused_by_the_rule": len(own)}
    for name, made in (("negation_put_in", added), ("negation_taken_out", dropped)):
        with mock.patch.object(guard, "negation_flips", _no_flips):
            before = sum(_reason(pair) is not None for pair in made)
        now = sum(_reason(pair) is not None for pair in made)
        result[name] = {"made": len(made), "refused_before": before, "refused_now": now}
    return result


def _no_flips(_summary: str, _sources: object) -> None:
    return None


def _about_something_else(rows: list[dict]) -> dict[str, object]:  # type: ignore[type-arg]
    rows = [r for r in rows if r["abstract"]]
    others = rows[:]
    random.Random(0).shuffle(others)
    own = [(r["abstract"], [r["title"], r["text"]]) for r in rows]
    foreign = [
        (o["abstract"], [r["title"], r["text"]])
        for r, o in zip(rows, others, strict=True)
        if o["docno"] != r["docno"]
    ]
    without_rule = mock.patch.object(guard, "MAX_NEW_WORD_SHARE", float("inf"))
    with without_rule:
        before = sum(_reason(pair) is not None for pair in foreign)
    after = sum(_reason(pair) is not None for pair in foreign)
    own_rejects = [
        row["docno"]
        for row, pair in zip(rows, own, strict=True)
        if (_reason(pair) or "").startswith("mostly not in the sources")
    ]
    return {
        "summaries": len(rows),
        "own_article_refused_by_the_rule": {"count": len(own_rejects), "docnos": own_rejects},
        "another_article_refused": {
            "pairs": len(foreign),
            "before": before,
            "now": after,
            "share_now": round(after / len(foreign), 4),
        },
    }


def _reason(pair: Pair) -> str | None:
    return check_summary(pair[0], pair[1], max_words=10_000, min_arabic_share=0.0)


def _rows(path) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _lead(text: str) -> str | None:
    lead: list[str] = []
    for sentence in split_sentences(text):
        lead.append(sentence)
        if len(" ".join(lead).split()) >= 25:
            break
    words = " ".join(lead).split()
    return " ".join(lead) if 5 <= len(words) <= 60 else None


def _number_rejects(pairs: list[Pair], *, words: bool) -> dict[str, object]:
    """How many summaries the guard refuses for a number, with a few examples."""
    reading = nullcontext() if words else mock.patch.object(guard, "written_numbers", _none)
    refused = []
    with reading:
        for summary, sources in pairs:
            reason = check_summary(summary, sources, max_words=10_000, min_arabic_share=0.0)
            if reason and reason.startswith("number"):
                refused.append(reason.removeprefix("number not in the sources: "))
    share = len(refused) / len(pairs) if pairs else 0.0
    return {"count": len(refused), "share": round(share, 4), "examples": refused[:5]}


def _number_reason(pair: Pair) -> str | None:
    for words in (False, True):
        reading = nullcontext() if words else mock.patch.object(guard, "written_numbers", _none)
        with reading:
            reason = check_summary(pair[0], pair[1], max_words=10_000, min_arabic_share=0.0)
        if reason and reason.startswith("number"):
            return reason
    return None


def _none(_tokens: object) -> list[object]:
    return []


def _wrong_words(pair: Pair) -> Iterator[Pair]:
    """The summary with its first number word changed to another, when the number it makes
    has a value that no source number has (else the change made no error)."""
    summary, sources = pair
    for word, other in _SWAPS.items():
        match = re.search(rf"(?<!\w)((?:[وبل]|ال)?){word}(?!\w)", summary)
        if match:
            changed = summary[: match.start()] + match.group(1) + other + summary[match.end() :]
            made = [n for n in written_numbers(tokenize(changed)) if normalize(other) in n.words]
            allowed = _values(" ".join(sources))
            if made and made[0].sure and not made[0].values & allowed:
                yield changed, sources
            return


def _values(text: str) -> set[Decimal]:
    """Every value the text writes, in words or digits (roughly: digits as integers)."""
    values = {v for number in written_numbers(tokenize(text)) for v in number.values}
    return values | {Decimal(d) for d in re.findall(r"\d+", text)}


def _in_words(pair: Pair) -> Iterator[Pair]:
    summary, sources = pair
    match = re.search(r"(?<![\d.,])(\d+)(?![\d.,])", summary)
    if match and match.group(1) in _IN_WORDS:
        written = _IN_WORDS[match.group(1)]
        yield summary[: match.start()] + written + summary[match.end() :], sources


if __name__ == "__main__":
    main()
