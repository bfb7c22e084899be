"""Multi-document check: a story told by other sources, scored against BBC's own description.

For each labelled story (../shared/data/labels/) that has a BBC Arabic article and at least
one article from another source, the story is summarized from the other sources' articles
only, in about 25 words, and scored (ROUGE-1/2/L F1, Arabic tokenizer) against the editor-
written description (`abstract`) of the story's BBC article(s) (mean over them when several).
Beside it: the lead sentence of the earliest and of the longest non-BBC article. Measured and
reported, not gated: one short human reference per story is a noisy yardstick.

Also timed: a story of 20 articles (the first 20 of the labelled stories' articles) summarized
in 5 sentences, best and median of 7 after one warm-up (the issue's bar is 100 ms).

    PYTHONPATH=. python benchmarks/multidoc.py [--words 25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.easc_data import take_budget
from briefing.arabic.sentences import split_sentences
from briefing.cluster import article_from_record
from briefing.cluster_eval import labelled_stories
from briefing.models import Story
from briefing.rouge import mean_f1, rouge_f1
from briefing.summarize.extractive import summarize_story
from tests.shared_data import SHARED_DATA


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=25)
    args = parser.parse_args()
    data = SHARED_DATA
    if data is None:
        print(json.dumps({"skipped": "shared data not found (set BRIEFING_SHARED_DATA)"}))
        return 0
    feed = data / "ant_multisource" / "feed_window_2018-04-01_07.jsonl"
    with feed.open(encoding="utf-8") as lines:
        rows = {row["docno"]: row for row in map(json.loads, lines)}
    label_file = data / "labels" / "dev-2018-04-01_02.json"
    labels = json.loads(label_file.read_text("utf-8"))
    scores: dict[str, list] = {"extractive (ours)": [], "lead_earliest": [], "lead_longest": []}
    stories = 0
    for label in labels["stories"]:
        members = [rows[d] for d in label["docnos"]]
        references = [r["abstract"] for r in members if r["source"] == "BBC" and r["abstract"]]
        others = [
            article_from_record(r, 0) for r in members if r["source"] != "BBC" and (r["text"] or "")
        ]
        if not references or not others:
            continue
        stories += 1
        story = Story(id=label["story"], section="news", articles=tuple(others))
        ours = [k.text for k in summarize_story(story, sentences=None, words=args.words)]
        earliest = min(others, key=lambda a: (a.published, a.id))
        longest = max(others, key=lambda a: len(a.text.split()))
        candidates = {
            "extractive (ours)": ours,
            "lead_earliest": take_budget(split_sentences(earliest.text), 1),
            "lead_longest": take_budget(split_sentences(longest.text), 1),
        }
        for name, sentences in candidates.items():
            scores[name].append(rouge_f1(" ".join(sentences), references))
    report = {
        "labels": label_file.name,
        "stories": stories,
        "budget_words": args.words,
        "reference": "abstract of the story's BBC article(s), BBC articles left out of the input",
        "methods": {
            name: {k: round(v, 4) for k, v in mean_f1(values).as_dict().items()}
            for name, values in scores.items()
        },
        "twenty_article_story_ms": twenty_article_story_ms(data),
    }
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def twenty_article_story_ms(data: Path) -> dict[str, float]:
    articles = tuple(a for s in labelled_stories(data) for a in s.articles)[:20]
    story = Story(id="twenty", section="news", articles=articles)
    summarize_story(story)  # warm caches, as a running service would have them
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        summarize_story(story, sentences=5)
        timings.append((time.perf_counter() - start) * 1000)
    return {
        "articles": len(articles),
        "best": round(min(timings), 1),
        "median": round(statistics.median(timings), 1),
        "target": 100.0,
    }


if __name__ == "__main__":
    raise SystemExit(main())
