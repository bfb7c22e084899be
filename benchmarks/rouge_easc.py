"""ROUGE-1/2/L F1 of the extractive summarizer on EASC beside the classic baselines, one run.

Every method gets the same budget: the mean word count of the article's 5 references, filled
by whole sentences in the method's order of merit (the last one may go over), then read in
document order. Scores are F1 against each reference with the Arabic-aware tokenizer
(briefing.rouge), averaged over the 5 references, then over articles. Speed is the median
time per article from raw text to chosen sentences (sentence splitting included for all).

sumy's summarizers run as sumy ships them for Arabic (its Arabic stemmer, NLTK's Snowball,
and its Arabic stop words) with an Arabic tokenizer: the issue's baseline, which scores about
0.49/0.41/0.45 at about 11 ms per article. One more row runs LexRank with briefing's own
light stemmer and stop words instead: weaker, and about 3 times faster, so the speed ratio
against it is reported too.

    PYTHONPATH=. python benchmarks/rouge_easc.py --split dev [--split heldout]

Prints one JSON object. Tune on dev only; report heldout once, with frozen weights.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from benchmarks.easc_data import EascArticle, load_easc, take_budget
from briefing.arabic import stem, tokenize
from briefing.arabic.sentences import split_sentences
from briefing.arabic.tokens import stopwords
from briefing.rouge import RougeF1, bigrams, mean_f1, rouge2_f1_counts, rouge_f1
from briefing.summarize.extractive import summarize_text
from tests.shared_data import SHARED_DATA

Method = Callable[[EascArticle], list[str]]  # article -> chosen sentences


class SumyArabicTokenizer:
    """sumy's tokenizer protocol over the project's Arabic splitter and tokenizer."""

    language = "arabic"

    def to_sentences(self, text: str) -> list[str]:
        return split_sentences(text)

    def to_words(self, sentence: str) -> list[str]:
        return tokenize(sentence)


def sumy_method(
    summarizer_class: type,
    stemmer: Callable[[str], str] | None = None,
    stop_words: frozenset[str] | None = None,
) -> Method:
    """A sumy summarizer over the Arabic tokenizer; by default with sumy's own Arabic stemmer
    and stop words, as a user of sumy would set it up."""
    summarizer = summarizer_class(stemmer or Stemmer("arabic"))
    summarizer.stop_words = stop_words if stop_words is not None else get_stop_words("arabic")
    tokenizer = SumyArabicTokenizer()

    def run(article: EascArticle) -> list[str]:
        sentences = split_sentences(article.text)
        document = ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])
        ranked: list[str] = []

        def keep_ranking(infos: Sequence) -> Sequence:
            # sumy hands its sentences sorted best first: keep that order for the budget.
            ranked.extend(str(info.sentence) for info in infos)
            return infos

        summarizer(document, keep_ranking)
        return _in_document_order(take_budget(ranked, article.budget), sentences)

    return run


def lead(article: EascArticle) -> list[str]:
    return take_budget(split_sentences(article.text), article.budget)


def random_method(seed: int) -> Method:
    generator = random.Random(seed)

    def run(article: EascArticle) -> list[str]:
        sentences = split_sentences(article.text)
        ranked = generator.sample(sentences, len(sentences))
        return _in_document_order(take_budget(ranked, article.budget), sentences)

    return run


def oracle(article: EascArticle) -> list[str]:
    """Greedy extractive ceiling: add the sentence that most raises ROUGE-2 until the budget."""
    sentences = split_sentences(article.text)
    references = [bigrams(r) for r in article.references]
    chosen: list[int] = []
    words = 0
    while words < article.budget and len(chosen) < len(sentences):
        best, best_score = -1, -1.0
        for i in range(len(sentences)):
            if i in chosen:
                continue
            text = " ".join(sentences[j] for j in sorted([*chosen, i]))
            score = rouge2_f1_counts(bigrams(text), references)
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
        words += len(sentences[best].split())
    return [sentences[i] for i in sorted(chosen)]


def ours(article: EascArticle) -> list[str]:
    return summarize_text(article.text, words=article.budget)


def _in_document_order(chosen: list[str], sentences: list[str]) -> list[str]:
    position = {s: i for i, s in reversed(list(enumerate(sentences)))}
    return sorted(chosen, key=lambda s: position.get(s, len(sentences)))


METHODS: dict[str, Method] = {
    "extractive (ours)": ours,
    "lead": lead,
    "random": random_method(seed=0),
    "sumy_lexrank": sumy_method(LexRankSummarizer),
    "sumy_lexrank_briefing_stemmer": sumy_method(LexRankSummarizer, stem, stopwords()),
    "sumy_textrank": sumy_method(TextRankSummarizer),
    "sumy_lsa": sumy_method(LsaSummarizer),
    "sumy_luhn": sumy_method(LuhnSummarizer),
    "oracle_rouge2": oracle,
}


def evaluate(articles: list[EascArticle], method: Method) -> RougeF1:
    return mean_f1([rouge_f1(" ".join(method(a)), a.references) for a in articles])


def median_ms(articles: list[EascArticle], methods: dict[str, Method]) -> dict[str, float]:
    """Median over articles of the best of 3 runs, methods interleaved article by article so
    that every method meets the same load on a shared machine."""
    for method in methods.values():
        for article in articles[:5]:
            method(article)  # warm caches, as a running service would have them
    times: dict[str, list[float]] = {name: [] for name in methods}
    for article in articles:
        for name, method in methods.items():
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                method(article)
                runs.append(time.perf_counter() - start)
            times[name].append(min(runs))
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", action="append", choices=["dev", "heldout"])
    args = parser.parse_args()
    data = SHARED_DATA
    if data is None:
        print(json.dumps({"skipped": "shared data not found (set BRIEFING_SHARED_DATA)"}))
        return 0
    report: dict[str, object] = {
        "budget": "mean word count of the article's references, whole sentences, last may go over",
        "rouge": "F1, Arabic tokenizer + briefing normalizer on both sides, mean over 5 refs",
    }
    for split in args.split or ["dev"]:
        articles = load_easc(split, data)
        results: dict[str, dict[str, float]] = {}
        for name, method in METHODS.items():
            results[name] = {
                k: round(v, 4) for k, v in evaluate(articles, method).as_dict().items()
            }
        timed = {name: m for name, m in METHODS.items() if name != "oracle_rouge2"}
        for name, milliseconds in median_ms(articles, timed).items():
            results[name]["median_ms_per_article"] = round(milliseconds, 3)
        report[split] = {"articles": len(articles), "methods": results, "checks": _checks(results)}
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def _checks(results: dict[str, dict[str, float]]) -> dict[str, object]:
    ours_, lead_, lexrank = results["extractive (ours)"], results["lead"], results["sumy_lexrank"]
    ours_ms = ours_["median_ms_per_article"]
    return {
        "vs_lead_relative": {
            m: round(ours_[m] / lead_[m] - 1, 4) for m in ("rouge1", "rouge2", "rougeL")
        },
        "rouge2_vs_lexrank_relative": round(ours_["rouge2"] / lexrank["rouge2"] - 1, 4),
        "speedup_vs_lexrank": round(lexrank["median_ms_per_article"] / ours_ms, 1),
        "speedup_vs_lexrank_briefing_stemmer": round(
            results["sumy_lexrank_briefing_stemmer"]["median_ms_per_article"] / ours_ms, 1
        ),
    }


if __name__ == "__main__":
    raise SystemExit(main())
