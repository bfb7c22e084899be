"""Record every extractive output on the shared data, or check that a change left them identical.

Speed work on the summarizer must not change a single chosen sentence. This records, for every
EASC article of dev and heldout: the summary with the benchmark's budget (rouge_easc.py), the
full ranking (rank_text), and a summary with a title (the first words of the text); for every
labelled multi-article story: its key sentences with 4 sentences and with 25 words; and the
20-article story of the speed test. It also keeps every sentence score, to report how far
the numbers moved (a float rounding difference is allowed, a changed output is not).

    PYTHONPATH=. python -m benchmarks.extractive_outputs --record /tmp/outputs.json
    PYTHONPATH=. python -m benchmarks.extractive_outputs --check /tmp/outputs.json

The file holds texts of the data set: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks._common import shared_data
from benchmarks.easc_data import load_easc
from briefing.cluster_eval import labelled_stories
from briefing.models import Story
from briefing.summarize.extractive import (
    DEFAULT_WEIGHTS,
    _scores,
    candidates_of,
    rank_text,
    sentence_graph,
    summarize_story,
    summarize_text,
)


def outputs(data: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for split in ("dev", "heldout"):
        for article in load_easc(split, data):
            title = " ".join(article.text.split()[:8])
            result[f"{split}/{article.id}"] = {
                "budget": summarize_text(article.text, words=article.budget),
                "ranking": rank_text(article.text),
                "titled": summarize_text(article.text, title, sentences=3),
                "scores": _text_scores(article.text),
            }
    stories = labelled_stories(data)
    for story in stories:
        result[f"story/{story.id}"] = {
            "sentences": _key(summarize_story(story, sentences=4)),
            "words": _key(summarize_story(story, sentences=None, words=25)),
        }
    articles = tuple(a for s in stories for a in s.articles)[:20]
    big = Story(id="big", section="news", articles=articles)
    result["story/twenty-articles"] = {"sentences": _key(summarize_story(big, sentences=5))}
    return result


def _text_scores(text: str) -> list[float]:
    candidates = candidates_of(text)
    if not candidates:
        return []
    graph = sentence_graph(candidates, None)
    scores = _scores(candidates, graph.similarity, graph.title, DEFAULT_WEIGHTS, None)
    return [float(score) for score in scores]


def _key(sentences: tuple) -> list[list[Any]]:
    return [[k.text, k.article_id, list(k.sources)] for k in sentences]


def compare(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every output that differs (scores only by more than rounding)."""
    problems = []
    if recorded.keys() != current.keys():
        problems.append("the set of inputs differs")
    largest_move = 0.0
    for name, old in recorded.items():
        new = current.get(name, {})
        for field, value in old.items():
            if field == "scores":
                if len(value) != len(new[field]):
                    problems.append(f"{name}: number of sentences differs")
                    continue
                moves = [abs(a - b) for a, b in zip(value, new[field], strict=True)]
                largest_move = max([largest_move, *moves])
            elif value != new.get(field):
                problems.append(f"{name}: {field} differs")
    print(f"largest score move: {largest_move:.3g}", file=sys.stderr)
    if largest_move > 1e-9:
        problems.append(f"scores moved by {largest_move:.3g}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", type=Path)
    action.add_argument("--check", type=Path)
    args = parser.parse_args()
    current = outputs(shared_data())
    if args.record:
        args.record.write_text(json.dumps(current, ensure_ascii=False), encoding="utf-8")
        print(f"recorded {len(current)} inputs to {args.record}")
        return 0
    recorded = json.loads(args.check.read_text("utf-8"))
    problems = compare(recorded, current)
    for problem in problems:
        print(problem)
    print(f"{len(recorded)} inputs, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
