"""The abstractive stage on a real (tiny) seq2seq model: loading, generation, cache, fallbacks.

Nothing is downloaded: HF_HUB_OFFLINE=1 and the model is a folder built in tests/tiny_model.py.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from briefing.config import Abstractive
from briefing.errors import ModelUnavailableError
from briefing.models import Article, KeySentence, Story
from briefing.store import Store
from briefing.summarize.abstractive import (
    AbstractiveSummarizer,
    cache_identity,
    load_or_warn,
    models_fetch,
    models_info,
    summarize_stories,
    summary_cache_key,
)
from briefing.summarize.guard import check_summary
from tests.tiny_model import tiny_model_dir

torch = pytest.importorskip("torch")  # the optional [abstractive] extra
pytest.importorskip("transformers")

NOT_CACHED = "briefing-tests/no-such-model"


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def settings() -> Abstractive:
    return Abstractive(
        enabled=True,
        model=str(tiny_model_dir()),
        device="cpu",
        quantize=False,
        batch_size=2,
        min_new_tokens=6,
        max_new_tokens=12,
        max_input_tokens=64,
    )


@pytest.fixture(scope="module")
def summarizer(settings: Abstractive) -> AbstractiveSummarizer:
    return AbstractiveSummarizer.load(settings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(f"sqlite:///{tmp_path / 'briefing.db'}")
    yield db
    db.close()


def article(article_id: str, title: str, text: str) -> Article:
    return Article(
        id=article_id,
        feed="feed",
        source=f"source {article_id}",
        section="news",
        url=f"https://example.com/{article_id}",
        title=title,
        text=text,
        published=datetime(2026, 1, 5, 6, tzinfo=UTC),
    )


def story(story_id: str, *articles: Article) -> tuple[Story, tuple[KeySentence, ...]]:
    keys = tuple(KeySentence(text=a.text, article_id=a.id, sources=(a.source,)) for a in articles)
    return Story(id=story_id, articles=articles, section="news"), keys


def day_stories() -> list[tuple[Story, tuple[KeySentence, ...]]]:
    return [
        story(
            "health",
            article("a1", "افتتاح مستشفيات", "أعلنت وزارة الصحة افتتاح 3 مستشفيات في الرياض."),
            article("a2", "مستشفيات جديدة", "افتتحت الوزارة ثلاثة مستشفيات جديدة اليوم."),
        ),
        story("economy", article("b1", "نمو الاقتصاد", "قال الرئيس إن الاقتصاد نما 5 في المئة.")),
        story("rain", article("c1", "أمطار غزيرة", "هطلت أمطار غزيرة على المدينة أمس.")),
    ]


# ---- loading and generation --------------------------------------------------------------


def test_tiny_model_loads_and_generates_in_batches(summarizer: AbstractiveSummarizer) -> None:
    inputs = [
        summarizer.build_input(s.headline, [k.text for k in keys]) for s, keys in day_stories()
    ]
    batched = summarizer.summarize(inputs)
    one_by_one = [summarizer.summarize([text])[0] for text in inputs]
    assert len(batched) == 3
    assert all(batched), "min_new_tokens=6 forces some text"
    assert batched == one_by_one, "batching (and reordering by length) must not change outputs"
    assert summarizer.name == str(tiny_model_dir())


def test_int8_quantization_on_cpu(settings: Abstractive) -> None:
    quantized = AbstractiveSummarizer.load(settings.model_copy(update={"quantize": True}))
    kinds = {type(m) for m in quantized.model.modules()}
    assert torch.ao.nn.quantized.dynamic.Linear in kinds
    assert torch.nn.Linear not in kinds, "every Linear layer, lm_head included, is int8"
    outputs = quantized.summarize(["أعلنت وزارة الصحة افتتاح 3 مستشفيات في الرياض"])
    assert len(outputs) == 1 and outputs[0]


def test_input_fits_the_token_limit(summarizer: AbstractiveSummarizer) -> None:
    tokenizer = summarizer.tokenizer
    limit = summarizer.settings.max_input_tokens
    short = "هطلت أمطار غزيرة."
    too_long = " ".join(["أعلنت وزارة الصحة افتتاح مستشفيات جديدة في الرياض"] * 12)
    text = summarizer.build_input("عنوان الخبر", [too_long, short])
    assert text.split("\n") == ["عنوان الخبر", short], "a sentence too long is skipped"
    assert len(tokenizer(text)["input_ids"]) <= limit
    cut = summarizer.build_input(too_long, [short])
    assert len(tokenizer(cut)["input_ids"]) <= limit
    assert too_long.startswith(cut[:20]), "a headline too long is cut, not dropped"


# ---- the stage: cache and guard ------------------------------------------------------------


def test_stage_guards_every_output_and_caches_it(
    summarizer: AbstractiveSummarizer, settings: Abstractive, store: Store
) -> None:
    items = day_stories()
    first, counts = summarize_stories(items, summarizer, store, settings)
    assert [s.story_id for s in first] == ["health", "economy", "rain"]
    assert counts["abstractive"] + counts["extractive"] == 3
    assert counts["cached"] == 0
    for summary, (st, keys) in zip(first, items, strict=True):
        assert summary.key_sentences == keys
        assert summary.model == summarizer.name
        if summary.abstract is None:
            reason = summary.fallback_reason
            assert reason is not None and reason.startswith("rejected by the guard")
        else:
            sources = [a.text for a in st.articles] + [a.title for a in st.articles]
            assert check_summary(summary.abstract, sources) is None
    # A second run costs nothing: every answer comes from the store, even with no model.
    again, counts = summarize_stories(items, None, store, settings)
    assert again == first
    assert counts["cached"] == 3 and counts["unavailable"] == 0


def test_cache_key_follows_content_model_and_settings(settings: Abstractive) -> None:
    (health, keys), (economy, economy_keys) = day_stories()[:2]
    key = summary_cache_key(health, keys, settings)
    assert key == summary_cache_key(*day_stories()[0], settings)
    assert key != summary_cache_key(economy, economy_keys, settings)
    grown = Story(id=health.id, articles=(*health.articles, economy.articles[0]), section="news")
    assert key != summary_cache_key(grown, keys, settings)
    assert key != summary_cache_key(health, keys, settings.model_copy(update={"num_beams": 4}))
    assert key != summary_cache_key(health, keys, settings.model_copy(update={"model": "x/y"}))
    # Speed settings do not change the text: same key.
    assert key == summary_cache_key(health, keys, settings.model_copy(update={"batch_size": 16}))


def test_cache_key_follows_the_model_files(settings: Abstractive, tmp_path: Path) -> None:
    # New weights saved at the same path must not keep serving the old weights' summaries.
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir(), folder)
    ours = settings.model_copy(update={"model": str(folder)})
    health, keys = day_stories()[0]
    key = summary_cache_key(health, keys, ours)
    assert key == summary_cache_key(health, keys, ours), "same files, same key"
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = summary_cache_key(health, keys, ours)
    assert touched != key, "weights rewritten (touched) at the same path"
    config = folder / "config.json"
    mtime = config.stat().st_mtime_ns
    config.write_text(config.read_text().replace('"d_ff": 64', '"d_ff": 65', 1))  # same size
    os.utime(config, ns=(mtime, mtime))
    assert summary_cache_key(health, keys, ours) != touched, "config.json read, not only stat"


def test_cache_key_follows_device_precision_quantization_and_guard(
    settings: Abstractive, monkeypatch: pytest.MonkeyPatch
) -> None:
    health, keys = day_stories()[0]
    cpu = summary_cache_key(health, keys, settings)
    int8 = summary_cache_key(health, keys, settings.model_copy(update={"quantize": True}))
    assert int8 != cpu
    auto = settings.model_copy(update={"device": "auto"})
    assert summary_cache_key(health, keys, auto) == cpu, "no GPU here: auto is the CPU"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    gpu = cache_identity(auto)
    assert (gpu["device"], gpu["dtype"], gpu["quantization"]) == ("cuda", "bfloat16", "none")
    assert summary_cache_key(health, keys, auto) not in (cpu, int8), "the same settings on a GPU"
    # On a GPU, quantize changes nothing the model writes: same key.
    quantized = auto.model_copy(update={"quantize": True})
    assert summary_cache_key(health, keys, quantized) == summary_cache_key(health, keys, auto)
    # The guard's source, and its reader of numbers in words, are in the key: a change to
    # either invalidates the cached verdicts.
    from briefing.arabic import numbers
    from briefing.summarize import guard

    source = b"".join(Path(inspect.getfile(module)).read_bytes() for module in (guard, numbers))
    assert cache_identity(settings)["guard"] == hashlib.sha256(source).hexdigest()[:16]


def test_generation_failure_falls_back_and_is_not_cached(
    summarizer: AbstractiveSummarizer, settings: Abstractive, store: Store
) -> None:
    class OutOfMemory(AbstractiveSummarizer):
        def _generate(self, texts: list[str]) -> list[str]:
            raise RuntimeError("CUDA out of memory (injected)")

    broken = OutOfMemory(summarizer.model, summarizer.tokenizer, settings, "cpu")
    summaries, counts = summarize_stories(day_stories(), broken, store, settings)
    assert counts["failed"] == 3 and counts["extractive"] == 3
    assert all(s.fallback_reason == "generation failed: RuntimeError" for s in summaries)
    assert store.count("summaries") == 0


# ---- failures are contained: one story, not the edition -----------------------------------


def headline_of(text: str) -> str:
    """The model's input opens with the story's headline."""
    return text.split("\n")[0]


class FailsFor(AbstractiveSummarizer):
    """The real tiny model, with a fault injected for the stories whose headlines are listed."""

    poisoned: frozenset[str] = frozenset()
    error: Exception = IndexError("index out of range in self")
    calls: list[int]

    def _generate(self, texts: list[str]) -> list[str]:
        self.calls.append(len(texts))
        if any(headline_of(text) in self.poisoned for text in texts):
            raise self.error
        return super()._generate(texts)


def failing(
    summarizer: AbstractiveSummarizer, settings: Abstractive, headlines: set[str], error: Exception
) -> FailsFor:
    broken = FailsFor(summarizer.model, summarizer.tokenizer, settings, "cpu")
    broken.poisoned, broken.error, broken.calls = frozenset(headlines), error, []
    return broken


@pytest.fixture
def lenient(settings: Abstractive) -> Abstractive:
    """One batch for the whole day, and a guard that lets more of the tiny model's text by."""
    return settings.model_copy(update={"batch_size": 8, "min_words": 1, "min_arabic_share": 0.0})


@pytest.mark.parametrize(
    "error",
    [IndexError("index out of range in self"), RuntimeError("CUDA out of memory (injected)")],
    ids=["IndexError", "RuntimeError"],
)
def test_one_failing_story_costs_only_its_own_abstract(
    summarizer: AbstractiveSummarizer,
    lenient: Abstractive,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    # The tiny model writes nonsense, which the guard may or may not let by (its tokenizer is
    # trained afresh each session), so "keeps its abstract" is checked as "gets exactly what it
    # gets without the fault": the model's text, then the guard's verdict on it.
    clean_store = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    clean, _ = summarize_stories(day_stories(), summarizer, clean_store, lenient)
    clean_store.close()
    inputs = [
        summarizer.build_input(story.headline, [k.text for k in keys])
        for story, keys in day_stories()
    ]
    broken = failing(summarizer, lenient, {"أمطار غزيرة"}, error)  # the "rain" story
    *texts, failure = broken.summarize_each(inputs)
    assert failure is error
    assert texts == summarizer.summarize(inputs[:2]) and all(texts)

    store = Store(f"sqlite:///{tmp_path / 'briefing.db'}")
    broken.calls.clear()
    with caplog.at_level(logging.WARNING):
        summaries, counts = summarize_stories(day_stories(), broken, store, lenient)
    by_id = {s.story_id: s for s in summaries}
    name = error.__class__.__name__
    assert by_id["rain"].abstract is None
    assert by_id["rain"].fallback_reason == f"generation failed: {name}"
    assert by_id["rain"].key_sentences == day_stories()[2][1], "the extractive summary stands in"
    # Its batch mates keep exactly what the model gave them without the fault.
    assert [s for s in summaries if s.story_id != "rain"] == clean[:2]
    assert counts["failed"] == 1 and counts["abstractive"] + counts["extractive"] == 3
    assert broken.calls == [3, 1, 1, 1], "the failed batch is retried one story at a time"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "story rain" in warning and name in warning and str(error) in warning
    assert store.count("summaries") == 2, "a failure is not a verdict: not cached"
    store.close()


def test_a_batch_too_big_for_memory_costs_nothing(
    summarizer: AbstractiveSummarizer, lenient: Abstractive, tmp_path: Path
) -> None:
    class OutOfMemoryInBatches(AbstractiveSummarizer):
        def _generate(self, texts: list[str]) -> list[str]:
            if len(texts) > 1:
                raise RuntimeError("CUDA out of memory (injected)")
            return super()._generate(texts)

    clean_store = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    clean, _ = summarize_stories(day_stories(), summarizer, clean_store, lenient)
    clean_store.close()
    store = Store(f"sqlite:///{tmp_path / 'briefing.db'}")
    tight = OutOfMemoryInBatches(summarizer.model, summarizer.tokenizer, lenient, "cpu")
    summaries, counts = summarize_stories(day_stories(), tight, store, lenient)
    store.close()
    assert summaries == clean
    assert counts["failed"] == 0


def test_an_error_building_the_input_costs_only_that_story(
    summarizer: AbstractiveSummarizer,
    settings: Abstractive,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadInput(AbstractiveSummarizer):
        def build_input(self, title: str, sentences: Sequence[str]) -> str:
            if title == "نمو الاقتصاد":  # the "economy" story
                raise IndexError("list index out of range (injected)")
            return super().build_input(title, sentences)

    broken = BadInput(summarizer.model, summarizer.tokenizer, settings, "cpu")
    with caplog.at_level(logging.WARNING):
        summaries, counts = summarize_stories(day_stories(), broken, store, settings)
    by_id = {s.story_id: s for s in summaries}
    assert [s.story_id for s in summaries] == ["health", "economy", "rain"]
    assert by_id["economy"].fallback_reason == "input building failed: IndexError"
    assert by_id["economy"].key_sentences == day_stories()[1][1]
    assert all(by_id[i].model == summarizer.name for i in ("health", "rain")), "they ran"
    assert counts["failed"] == 1 and counts["extractive"] + counts["abstractive"] == 3
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "story economy" in warning and "IndexError" in warning


def test_an_interrupt_is_not_contained(
    summarizer: AbstractiveSummarizer, settings: Abstractive, store: Store
) -> None:
    # Every story fails with an ordinary error: all fall back, nothing escapes...
    broken = failing(summarizer, settings, {s.headline for s, _ in day_stories()}, KeyError("x"))
    summaries, counts = summarize_stories(day_stories(), broken, store, settings)
    assert counts["failed"] == 3
    assert {s.fallback_reason for s in summaries} == {"generation failed: KeyError"}
    # ...but Ctrl-C and sys.exit still stop the run.
    for stop in (KeyboardInterrupt(), SystemExit(1)):
        broken = failing(summarizer, settings, {"أمطار غزيرة"}, stop)  # type: ignore[arg-type]
        with pytest.raises(type(stop)):
            summarize_stories(day_stories(), broken, store, settings)


def test_disabled_means_extractive_without_a_reason(store: Store) -> None:
    summaries, counts = summarize_stories(day_stories(), None, store, Abstractive(enabled=False))
    assert counts["extractive"] == 3 and counts["abstractive"] == 0
    assert all(s.abstract is None and s.fallback_reason is None for s in summaries)


# ---- missing model -------------------------------------------------------------------------


@pytest.mark.parametrize("offline_flag", ["1", None])
def test_uncached_hub_model_fails_fast_with_a_fix(
    monkeypatch: pytest.MonkeyPatch, offline_flag: str | None
) -> None:
    if offline_flag is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # a run never goes online anyway
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        AbstractiveSummarizer.load(Abstractive(enabled=True, model=NOT_CACHED))
    assert time.monotonic() - start < 10
    assert "not in the local Hugging Face cache" in str(caught.value)
    assert "briefing models fetch" in caught.value.hint


def test_missing_model_gives_one_warning_and_an_extractive_edition(
    caplog: pytest.LogCaptureFixture, store: Store
) -> None:
    settings = Abstractive(enabled=True, model=NOT_CACHED)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        summarizer, reason = load_or_warn(settings)
        summaries, counts = summarize_stories(
            day_stories(), summarizer, store, settings, unavailable_reason=reason
        )
    assert time.monotonic() - start < 10
    assert summarizer is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert NOT_CACHED in warnings[0].getMessage()
    assert "briefing models fetch" in warnings[0].getMessage()
    assert counts["unavailable"] == 3 and counts["extractive"] == 3
    assert all(s.key_sentences and s.abstract is None for s in summaries)
    reasons = [s.fallback_reason for s in summaries]
    assert all(r is not None and r.startswith("model unavailable") for r in reasons)


def _quantization_engine_missing(model: object) -> object:
    raise RuntimeError(
        "Didn't find engine for operation quantized::linear_prepack NoQEngine (injected)"
    )


def _out_of_memory(self: object, *args: object, **kwargs: object) -> object:
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def _threads_refused(threads: int) -> None:
    raise RuntimeError("set_num_threads: invalid value (injected)")


@pytest.mark.parametrize(
    ("fault", "update", "error", "fix"),
    [
        (
            ("briefing.summarize.abstractive.quantize_int8", _quantization_engine_missing),
            {"quantize": True},
            "RuntimeError: Didn't find engine",
            "quantize: false",
        ),
        (
            ("torch.nn.Module.to", _out_of_memory),
            {},
            "OutOfMemoryError: CUDA out of memory",
            "briefing models info",
        ),
        (
            ("torch.set_num_threads", _threads_refused),
            {"threads": 2},
            "RuntimeError: set_num_threads",
            "device: cpu or quantize: false",
        ),
    ],
    ids=["quantize", "to-device", "unexpected"],
)
def test_a_model_that_fails_to_load_gives_a_warning_and_an_extractive_edition(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    store: Store,
    settings: Abstractive,
    fault: tuple[str, object],
    update: dict[str, object],
    error: str,
    fix: str,
) -> None:
    monkeypatch.setattr(*fault)
    settings = settings.model_copy(update=update)
    with caplog.at_level(logging.WARNING):
        summarizer, reason = load_or_warn(settings)
    assert summarizer is None
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "abstractive summaries are off for this run" in warning
    assert settings.model in warning and error in warning and fix in warning
    assert reason is not None and reason.startswith("model unavailable") and error in reason
    monkeypatch.undo()
    summaries, counts = summarize_stories(
        day_stories(), summarizer, store, settings, unavailable_reason=reason
    )
    assert counts["unavailable"] == 3 and all(s.key_sentences for s in summaries)


def test_bad_local_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        AbstractiveSummarizer.load(Abstractive(model=str(tmp_path / "nothing")))
    with pytest.raises(ModelUnavailableError, match="cannot load summarization model") as caught:
        AbstractiveSummarizer.load(Abstractive(model=str(tmp_path)))  # a folder, but empty
    assert "complete seq2seq model" in caught.value.hint


def test_missing_backend_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now fails
    with pytest.raises(ModelUnavailableError) as caught:
        AbstractiveSummarizer.load(Abstractive(model=str(tiny_model_dir())))
    assert "transformers" in str(caught.value)
    assert "briefing[abstractive]" in caught.value.hint


# ---- `briefing models` ---------------------------------------------------------------------


def test_models_info_reports_availability_and_licence(settings: Abstractive) -> None:
    local = models_info(settings)
    assert "available: yes (local folder)" in local
    assert "licence:   unknown" in local
    default = models_info(Abstractive(model=NOT_CACHED))
    assert "available: no (hub id)" in default
    xlsum = models_info(Abstractive())
    assert "CC BY-NC-SA 4.0" in xlsum and "non-commercial" in xlsum


def test_models_fetch_offline_refuses_fast(settings: Abstractive) -> None:
    assert models_fetch(settings) == tiny_model_dir()
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        models_fetch(Abstractive(model=NOT_CACHED))
    assert time.monotonic() - start < 5
