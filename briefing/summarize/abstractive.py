"""Abstractive summaries: a seq2seq model (mT5 by default) through transformers and torch.

Extract, then abstract: the model reads the story's headline and the extractive stage's key
sentences, fitted to its input limit by tokens. Every output passes the guard
(briefing.summarize.guard) before a reader sees it; a rejected one falls back to the
extractive summary. Results are cached in the store by story content, model and settings.

A run never downloads weights: the model is a local folder or a hub id already in the
Hugging Face cache (`briefing models fetch` puts it there). So a missing model fails in
seconds, offline or not, and the edition goes out with extractive summaries.

torch and transformers are imported lazily: the rest of briefing runs without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from briefing.arabic import numbers
from briefing.config import Abstractive
from briefing.errors import ModelUnavailableError
from briefing.models import KeySentence, Story, Summary
from briefing.store import Store
from briefing.summarize import guard
from briefing.summarize.guard import check_summary

log = logging.getLogger(__name__)

INSTALL_HINT = "install the optional dependencies: pip install 'briefing[abstractive]'"
FETCH_HINT = (
    "run `briefing models fetch` once with network access, "
    "or set summarizer.abstractive.model to a local model folder"
)
QUANTIZE_HINT = (
    "set summarizer.abstractive.quantize: false (this torch build has no int8 kernels for "
    "this CPU); `briefing models info` shows the torch version and device"
)
_DEVICE_HINT = {
    "cuda": "set summarizer.abstractive.device: cpu, or free GPU memory; "
    "`briefing models info` shows the device and precision it would use",
    "cpu": "free memory or choose a smaller model; `briefing models info` shows its size",
}
LICENCES = {
    "csebuetnlp/mT5_multilingual_XLSum": (
        "CC BY-NC-SA 4.0: non-commercial use only, share alike, credit csebuetnlp (XL-Sum)"
    ),
    "abdalrahmanshahrour/AraBART-summ": (
        "Apache-2.0 on the model card, but fine-tuned on XL-Sum (CC BY-NC-SA 4.0 data): "
        "take advice before commercial use"
    ),
}
# The settings that change what the model writes or what the guard accepts: part of the
# cache key, with the model's files, the device, precision and quantization it runs with,
# and the guard's source (cache_identity). Batch size and threads change speed, not text.
_OUTPUT_SETTINGS = {
    "model",
    "num_beams",
    "no_repeat_ngram_size",
    "max_input_tokens",
    "max_new_tokens",
    "min_new_tokens",
    "min_words",
    "max_words",
    "min_arabic_share",
}
# Bump for a change outside guard.py and numbers.py that changes the summaries or the
# verdicts (the normalizer the guard uses, the input built for the model); those two are
# hashed already.
_CACHE_VERSION = 2
# A JSON file this small is hashed whole (config.json, generation_config.json, tokenizer
# settings); bigger files (weights, tokenizer.json) by name, size and modification time.
_HASHED_FILE_BYTES = 1_000_000


def _source_hash(*modules: Any) -> str:
    try:
        sources = b"".join(Path(module.__file__).read_bytes() for module in modules)
    except (OSError, TypeError):  # no source file (a frozen build): never matches a cache
        return "unknown"
    return hashlib.sha256(sources).hexdigest()[:16]


# The guard and the reader of numbers in words it relies on.
_GUARD_HASH = _source_hash(guard, numbers)


class AbstractiveSummarizer:
    """A loaded model and its tokenizer. Load once per run and pass it to the stage."""

    def __init__(self, model: Any, tokenizer: Any, settings: Abstractive, device: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = device
        self.name = settings.model

    @classmethod
    def load(cls, settings: Abstractive) -> AbstractiveSummarizer:
        """Load the configured model; raise ModelUnavailableError in seconds when it can't be."""
        torch, transformers = _import_backend()
        folder = resolve_model(settings.model)
        device = pick_device(settings.device)
        if device == "cpu" and settings.threads:
            torch.set_num_threads(settings.threads)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = transformers.AutoModelForSeq2SeqLM.from_pretrained(
                folder, local_files_only=True, dtype=_dtype(device)
            )
        except Exception as exc:  # a bad folder raises many kinds: one message, one hint
            raise ModelUnavailableError(
                f"cannot load summarization model {settings.model!r} from {folder}: "
                f"{exc.__class__.__name__}: {_first_line(exc)}",
                hint=f"check that the folder holds a complete seq2seq model; {FETCH_HINT}",
            ) from exc
        # The files are read; what is left can still fail on this machine: say what to change.
        step, hint = f"move it to {device}", _DEVICE_HINT[device]
        try:
            model.eval()
            model.to(device)  # CUDA out of memory, a broken driver
            if device == "cpu" and settings.quantize:
                step, hint = "quantize it to int8", QUANTIZE_HINT
                model = quantize_int8(model)  # "NoQEngine" where torch has no int8 kernels
        except Exception as exc:
            raise ModelUnavailableError(
                f"cannot {step} summarization model {settings.model!r}: "
                f"{exc.__class__.__name__}: {_first_line(exc)}",
                hint=hint,
            ) from exc
        log.info("abstractive model %s loaded on %s", settings.model, device)
        return cls(model, tokenizer, settings, device)

    def build_input(self, title: str, sentences: Sequence[str]) -> str:
        """Headline, then key sentences in the order given, as many as fit the input limit.

        Counted in the model's own tokens: a sentence that does not fit is skipped, a
        shorter one after it may still go in. A headline too long on its own is cut.
        """
        pieces = [p.strip() for p in (title, *sentences) if p and p.strip()]
        if not pieces:
            return ""
        budget = self.settings.max_input_tokens - 1  # room for the end-of-sequence token
        lengths = [len(ids) for ids in self._token_ids(pieces)]
        chosen: list[str] = []
        used = 0
        for piece, length in zip(pieces, lengths, strict=True):
            if used + length <= budget:
                chosen.append(piece)
                used += length
            elif not chosen:
                chosen.append(self._cut(piece, budget))
                used = budget
        return "\n".join(chosen)

    def summarize(self, inputs: Sequence[str]) -> list[str]:
        """One summary per input, generated in batches of `batch_size`, in input order.

        Raises what generation raises; the stage uses summarize_each, which contains it.
        """
        results = [""] * len(inputs)
        for batch in self._batches(inputs):
            for index, text in zip(batch, self._run([inputs[i] for i in batch]), strict=True):
                results[index] = text
        return results

    def summarize_each(self, inputs: Sequence[str]) -> list[str | Exception]:
        """Like summarize, but a failure costs only the inputs it belongs to.

        A batch that raises is retried one input at a time, so one story that the model
        cannot take (an out-of-range token id, too much memory) does not cost its batch
        mates their summaries. Where an input still fails, its place holds the exception.
        """
        results: list[str | Exception] = [""] * len(inputs)
        for batch in self._batches(inputs):
            try:
                outputs = self._run([inputs[i] for i in batch])
            except Exception as exc:  # not BaseException: Ctrl-C and exit still stop the run
                if len(batch) == 1:
                    results[batch[0]] = exc
                    continue
                log.info(
                    "a batch of %d summaries failed (%s: %s): trying them one at a time",
                    len(batch),
                    exc.__class__.__name__,
                    _first_line(exc),
                )
                self._release_memory()
                for index in batch:
                    try:
                        [results[index]] = self._run([inputs[index]])
                    except Exception as single:
                        results[index] = single
            else:
                for index, text in zip(batch, outputs, strict=True):
                    results[index] = text
        return results

    def _batches(self, inputs: Sequence[str]) -> list[list[int]]:
        # Inputs of similar length share a batch, so little time goes into padding.
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        size = self.settings.batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _run(self, texts: list[str]) -> list[str]:
        outputs = self._generate(texts)
        if len(outputs) != len(texts):
            raise RuntimeError(f"the model gave {len(outputs)} outputs for {len(texts)} inputs")
        return outputs

    def _release_memory(self) -> None:
        """After a failed batch on CUDA, give back what it held before the retries."""
        if self.device != "cuda":
            return
        import torch

        with contextlib.suppress(Exception):  # a broken context: the retries will say so
            torch.cuda.empty_cache()

    def _generate(self, texts: list[str]) -> list[str]:
        import torch

        s = self.settings
        encoded = self.tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=s.max_input_tokens,
        ).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                num_beams=s.num_beams,
                no_repeat_ngram_size=s.no_repeat_ngram_size,
                max_new_tokens=s.max_new_tokens,
                min_new_tokens=min(s.min_new_tokens, s.max_new_tokens),
                early_stopping=s.num_beams > 1,
                do_sample=False,
            )
        decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        return [" ".join(text.split()) for text in decoded]

    def _token_ids(self, pieces: list[str]) -> list[list[int]]:
        return self.tokenizer(pieces, add_special_tokens=False)["input_ids"]

    def _cut(self, piece: str, budget: int) -> str:
        ids = self._token_ids([piece])[0][:budget]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


# ---- the stage -------------------------------------------------------------------------


def load_or_warn(settings: Abstractive) -> tuple[AbstractiveSummarizer | None, str | None]:
    """For the pipeline: the summarizer, or None and why (logged once as a warning).

    (None, None) when abstractive summaries are switched off in the settings.
    """
    if not settings.enabled:
        return None, None
    try:
        return AbstractiveSummarizer.load(settings), None
    except ModelUnavailableError as exc:
        log.warning("abstractive summaries are off for this run: %s", exc)
        return None, f"model unavailable: {exc}"
    except Exception as exc:  # whatever else loading raises: the edition goes on without it
        log.warning(
            "abstractive summaries are off for this run: cannot load summarization model %r: "
            "%s: %s (try summarizer.abstractive.device: cpu or quantize: false, and see "
            "`briefing models info`)",
            settings.model,
            exc.__class__.__name__,
            _first_line(exc),
            exc_info=exc,
        )
        return None, f"model unavailable: {exc.__class__.__name__}: {_first_line(exc)}"


def summarize_stories(
    items: Sequence[tuple[Story, tuple[KeySentence, ...]]],
    summarizer: AbstractiveSummarizer | None,
    store: Store,
    settings: Abstractive,
    *,
    unavailable_reason: str | None = None,
) -> tuple[list[Summary], dict[str, int]]:
    """One Summary per story, in order: an abstract when one passed the guard, else none.

    Counts: `abstractive` and `extractive` (what readers get, they add up to the stories),
    `cached` (answered from the store), `rejected` (the guard said no, now or in a cached
    verdict), `unavailable` (no model to run), `failed` (building the input, generating or
    checking raised for that story: logged with the story id; only that story loses its
    abstract, a failed batch is retried one story at a time).
    """
    counts: Counter[str] = Counter(
        abstractive=0, extractive=0, cached=0, rejected=0, unavailable=0, failed=0
    )
    if not settings.enabled:
        summaries = [Summary(story_id=story.id, key_sentences=keys) for story, keys in items]
        counts["extractive"] = len(summaries)
        return summaries, dict(counts)
    results: list[Summary | None] = [None] * len(items)
    pending: list[tuple[int, str]] = []
    identity = cache_identity(settings, summarizer.device if summarizer else None)
    for index, (story, keys) in enumerate(items):
        key = summary_cache_key(story, keys, settings, identity)
        cached = store.cached_summary(key)
        if cached is not None:
            counts["cached"] += 1
            counts["rejected"] += bool(cached["fallback_reason"])
            results[index] = Summary(
                story_id=story.id,
                key_sentences=keys,
                abstract=cached["abstract"],
                model=cached["model"],
                fallback_reason=cached["fallback_reason"],
            )
        elif summarizer is None:
            counts["unavailable"] += 1
            reason = unavailable_reason or "abstractive model unavailable"
            results[index] = Summary(story_id=story.id, key_sentences=keys, fallback_reason=reason)
        else:
            pending.append((index, key))
    if pending and summarizer is not None:
        fresh = _generate_and_guard([items[i] for i, _ in pending], summarizer, settings, counts)
        for (index, key), summary in zip(pending, fresh, strict=True):
            results[index] = summary
            if summary.model is not None:  # a verdict, not a transient failure: keep it
                store.cache_summary(
                    key,
                    abstract=summary.abstract,
                    model=summary.model,
                    fallback_reason=summary.fallback_reason,
                )
    summaries = [s for s in results if s is not None]
    counts["abstractive"] = sum(s.abstract is not None for s in summaries)
    counts["extractive"] = len(summaries) - counts["abstractive"]
    return summaries, dict(counts)


def _generate_and_guard(
    items: Sequence[tuple[Story, tuple[KeySentence, ...]]],
    summarizer: AbstractiveSummarizer,
    settings: Abstractive,
    counts: Counter[str],
) -> list[Summary]:
    """Each story on its own account: whatever fails for one costs only its abstract."""
    results: list[Summary | None] = [None] * len(items)
    ready: list[int] = []
    inputs: list[str] = []
    for index, (story, keys) in enumerate(items):
        try:
            sentences = [k.text for k in keys] or [story.lead.text]
            text = summarizer.build_input(story.headline, sentences)
        except Exception as exc:  # not BaseException: Ctrl-C and exit still stop the run
            results[index] = _failed(story, keys, "input building", exc, counts)
        else:
            ready.append(index)
            inputs.append(text)
    outcomes = summarizer.summarize_each(inputs) if inputs else []
    for index, outcome in zip(ready, outcomes, strict=True):
        story, keys = items[index]
        if isinstance(outcome, Exception):
            results[index] = _failed(story, keys, "generation", outcome, counts)
            continue
        try:
            results[index] = _guarded(story, keys, outcome, summarizer.name, settings, counts)
        except Exception as exc:
            results[index] = _failed(story, keys, "guard check", exc, counts)
    return [s for s in results if s is not None]


def _guarded(
    story: Story,
    keys: tuple[KeySentence, ...],
    text: str,
    model: str,
    settings: Abstractive,
    counts: Counter[str],
) -> Summary:
    problem = check_summary(
        text,
        story_sources(story),
        min_words=settings.min_words,
        max_words=settings.max_words,
        min_arabic_share=settings.min_arabic_share,
    )
    if not problem:
        return Summary(story_id=story.id, key_sentences=keys, abstract=text, model=model)
    counts["rejected"] += 1
    log.info("story %s: abstract rejected (%s): %r", story.id, problem, text[:200])
    return Summary(
        story_id=story.id,
        key_sentences=keys,
        model=model,
        fallback_reason=f"rejected by the guard: {problem}",
    )


def _failed(
    story: Story,
    keys: tuple[KeySentence, ...],
    step: str,
    exc: Exception,
    counts: Counter[str],
) -> Summary:
    """A failure, not a verdict: counted, logged with the story, never cached (model None)."""
    counts["failed"] += 1
    log.warning(
        "story %s: %s failed, the extractive summary stands in: %s: %s",
        story.id,
        step,
        exc.__class__.__name__,
        _first_line(exc),
    )
    log.debug("story %s: %s failure", story.id, step, exc_info=exc)
    reason = f"{step} failed: {exc.__class__.__name__}"
    return Summary(story_id=story.id, key_sentences=keys, fallback_reason=reason)


def story_sources(story: Story) -> list[str]:
    """Everything the story's sources said: what a summary may draw on."""
    return [part for a in story.articles for part in (a.title, a.description, a.text) if part]


def summary_cache_key(
    story: Story,
    keys: Sequence[KeySentence],
    settings: Abstractive,
    identity: Mapping[str, str] | None = None,
) -> str:
    """Same story text, same key sentences, same model files, device, precision, output
    settings and guard: same summary. `identity` is cache_identity(settings), computed once
    per run by the stage (here when not given)."""
    articles = sorted(
        (a.id, hashlib.sha256(f"{a.title}\n{a.description}\n{a.text}".encode()).hexdigest())
        for a in story.articles
    )
    payload = {
        "version": _CACHE_VERSION,
        "settings": settings.model_dump(include=_OUTPUT_SETTINGS),
        "runtime": dict(identity if identity is not None else cache_identity(settings)),
        "headline": story.headline,
        "sentences": [k.text for k in keys],
        "articles": articles,
    }
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


def cache_identity(settings: Abstractive, device: str | None = None) -> dict[str, str]:
    """What besides the settings decides a summary and its verdict, for the cache key.

    The model's files (model_fingerprint of the folder it resolves to, and for a hub id the
    snapshot's commit), the device (`device`, else the one `settings.device` picks here),
    the precision and quantization the model runs with there, and a hash of guard.py's
    source. Reads local files only; a model that cannot be found is "unavailable", which
    matches no summary cached while it was there.
    """
    try:
        folder = resolve_model(settings.model)
    except ModelUnavailableError:
        files, revision = "unavailable", ""
    else:
        files = model_fingerprint(folder)
        revision = "" if is_local_path(settings.model) else folder.name  # snapshots/<commit>
    torch = _torch_or_none()
    if device is None:
        if settings.device == "cpu" or torch is None:
            device = "cpu" if settings.device == "cpu" else "unknown"
        else:  # pick_device without its warning: loading says it once
            device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "unknown" if torch is None or device == "unknown" else str(_dtype(device))
    return {
        "files": files,
        "revision": revision,
        "device": device,
        "dtype": dtype.removeprefix("torch."),
        "quantization": "int8-dynamic" if device == "cpu" and settings.quantize else "none",
        "guard": _GUARD_HASH,
    }


def _torch_or_none() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def model_fingerprint(folder: Path) -> str:
    """Identifies the model files in `folder` without reading the weights: every file's
    path, size and modification time, and the whole content of its small JSON files.
    New weights saved over the old ones, even at the same path, change it."""
    digest = hashlib.sha256()
    files = sorted(
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    for name, path in files:
        stat = path.stat()  # a hub snapshot's symlinks: their blobs
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        if path.suffix == ".json" and stat.st_size <= _HASHED_FILE_BYTES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ---- loading, devices, `briefing models` ------------------------------------------------


def is_local_path(model: str) -> bool:
    """A folder on disk rather than a hub id ("org/name")."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().is_dir()


def resolve_model(model: str) -> Path:
    """The folder holding the model's files, without touching the network."""
    if is_local_path(model):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ModelUnavailableError(
                f"summarization model folder {folder} does not exist",
                hint="set summarizer.abstractive.model to a folder saved with save_pretrained, "
                "or to a hub id fetched with `briefing models fetch`",
            )
        return folder
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:
        raise ModelUnavailableError("huggingface_hub is not installed", hint=INSTALL_HINT) from exc
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError) as exc:
        raise ModelUnavailableError(
            f"summarization model {model!r} is not in the local Hugging Face cache", hint=FETCH_HINT
        ) from exc


def pick_device(wanted: str) -> str:
    """CUDA when asked for or, with "auto", when present; else the CPU."""
    import torch

    if wanted == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if wanted == "cuda":
        log.warning("summarizer.abstractive.device is cuda but no CUDA device is usable: CPU")
    return "cpu"


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization of every Linear layer (weights int8, activations float)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao but still works; the
        # warnings would only alarm the person reading the log.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def _dtype(device: str) -> Any:
    import torch

    if device != "cuda":
        return torch.float32
    # mT5 overflows in float16 (inf/NaN activations); bfloat16 has float32's range.
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _import_backend() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the abstractive summarizer needs torch and transformers ({exc.name} is missing)",
            hint=INSTALL_HINT,
        ) from exc
    return torch, transformers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def models_info(settings: Abstractive) -> str:
    """What is configured and whether it can run here: for `briefing models info`."""
    lines = [f"model:     {settings.model}", f"enabled:   {'yes' if settings.enabled else 'no'}"]
    kind = "local folder" if is_local_path(settings.model) else "hub id"
    try:
        folder = resolve_model(settings.model)
        lines.append(f"available: yes ({kind}) at {folder} ({_size(folder)})")
    except ModelUnavailableError as exc:
        lines.append(f"available: no ({kind}): {exc}")
    try:
        torch, transformers = _import_backend()
        device = pick_device(settings.device)
        lines.append(
            f"backend:   torch {torch.__version__}, transformers {transformers.__version__}"
        )
        lines.append(f"device:    {_describe_device(device, settings)}")
    except ModelUnavailableError as exc:
        lines.append(f"backend:   missing: {exc}")
    lines.append(
        f"generate:  batch {settings.batch_size}, beams {settings.num_beams}, "
        f"no-repeat {settings.no_repeat_ngram_size}-grams, input <= {settings.max_input_tokens} "
        f"tokens, {settings.min_new_tokens}-{settings.max_new_tokens} new tokens"
    )
    licence = LICENCES.get(settings.model, "unknown to briefing: read the model card")
    lines.append(f"licence:   {licence}")
    return "\n".join(lines)


def models_fetch(settings: Abstractive) -> Path:
    """Download the configured hub model into the Hugging Face cache; return its folder."""
    if is_local_path(settings.model):
        return resolve_model(settings.model)  # nothing to download: check it exists
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelUnavailableError(
            f"cannot download {settings.model!r}: HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE and run `briefing models fetch` where the network is up",
        )
    try:
        import httpx
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:
        raise ModelUnavailableError("huggingface_hub is not installed", hint=INSTALL_HINT) from exc
    endpoint = constants.ENDPOINT
    try:
        # A quick look first: an unreachable hub otherwise costs a long series of retries.
        httpx.head(endpoint, timeout=5.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(
            f"cannot reach {endpoint} to download {settings.model!r}: {exc.__class__.__name__}",
            hint="fetch where the network is up (e.g. at Docker build time), or copy a model "
            "folder here and set summarizer.abstractive.model to it",
        ) from exc
    try:
        folder = snapshot_download(
            settings.model,
            # PyTorch weights, config and tokenizer only: not TensorFlow, Flax or ONNX copies.
            ignore_patterns=["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "tf_*", "flax_*"],
        )
    except Exception as exc:  # the hub raises many kinds (HTTP, auth, disk): one message
        raise ModelUnavailableError(
            f"download of {settings.model!r} failed: {exc.__class__.__name__}: {_first_line(exc)}",
            hint="check the model id, network access and free disk space",
        ) from exc
    return Path(folder)


def _describe_device(device: str, settings: Abstractive) -> str:
    import torch

    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)}, {str(_dtype(device)).split('.')[-1]})"
    threads = settings.threads or torch.get_num_threads()
    quant = "int8 dynamic quantization" if settings.quantize else "float32"
    return f"cpu ({threads} threads, {quant})"


def _size(folder: Path) -> str:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f"{total / 1e9:.2f} GB" if total >= 1e8 else f"{total / 1e6:.1f} MB"
