"""The abstractive stage inside a whole edition: a missing model and a (tiny) real one."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
import yaml

from briefing.cli import main

pytest.importorskip("transformers")


def _enable(config_dir: Path, model: str) -> None:
    path = config_dir / "briefing.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["summarizer"]["abstractive"] = {
        "enabled": True,
        "model": model,
        "device": "cpu",
        "quantize": False,
        "max_new_tokens": 12,
        "min_new_tokens": 6,
    }
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")


def test_a_missing_model_still_sends_the_edition_with_key_sentences(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _enable(demo_dir, "briefing-tests/not-in-any-cache")
    assert main(["run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    captured = capsys.readouterr()
    assert "summaries: 5 extractive, 5 unavailable" in captured.out
    warnings = [line for line in captured.err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "briefing models fetch" in warnings[0]
    [message] = (demo_dir.parent / "var").rglob("reader@example.org.eml")
    parsed = email.message_from_bytes(message.read_bytes(), policy=email.policy.default)
    assert "محطة تحلية" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_local_model_runs_and_every_output_passes_the_guard_or_falls_back(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.tiny_model import tiny_model_dir

    _enable(demo_dir, str(tiny_model_dir()))
    assert main(["run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if x.startswith("summaries:")]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", line)}
    # Every story got the model's attempt: what passed the guard is shown as an abstract,
    # what the guard rejected falls back to key sentences.
    assert counts.get("abstractive", 0) + counts.get("extractive", 0) == 5, line
    assert counts.get("rejected", 0) == counts.get("extractive", 0), line
    assert "unavailable" not in counts and "failed" not in counts, line
    assert main(["run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    assert "5 cached" in capsys.readouterr().out  # the second run generates nothing


def test_a_model_failing_for_one_story_still_sends_every_subscriber_the_edition(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from briefing.summarize.abstractive import AbstractiveSummarizer
    from tests.tiny_model import tiny_model_dir

    generate = AbstractiveSummarizer._generate
    poisoned: list[str] = []  # the input of the first story the model is given

    def index_out_of_range(self: AbstractiveSummarizer, texts: list[str]) -> list[str]:
        # Fault injection: torch's embedding lookup fails for this one story, in any batch.
        poisoned[:] = poisoned or texts[0].split("\n")  # its headline, its key sentences
        if any(text.split("\n")[0] == poisoned[0] for text in texts):
            raise IndexError("index out of range in self (injected)")
        return generate(self, texts)

    monkeypatch.setattr(AbstractiveSummarizer, "_generate", index_out_of_range)
    _enable(demo_dir, str(tiny_model_dir()))
    assert main(["run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    captured = capsys.readouterr()
    [line] = [x for x in captured.out.splitlines() if x.startswith("summaries:")]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", line)}
    assert counts["failed"] == 1, line
    assert counts.get("abstractive", 0) + counts.get("extractive", 0) == 5, line
    assert counts.get("rejected", 0) == counts.get("extractive", 0) - 1, "the others ran"
    [warning] = [x for x in captured.err.splitlines() if "WARNING" in x]
    assert "IndexError" in warning and "extractive summary stands in" in warning
    outbox = demo_dir.parent / "var"
    sent = sorted(p.name for p in outbox.rglob("*.eml"))
    assert sent == [
        "economy@example.org.eml",
        "reader@example.org.eml",
        "text-only@example.org.eml",
    ]
    [message] = outbox.rglob("reader@example.org.eml")
    parsed = email.message_from_bytes(message.read_bytes(), policy=email.policy.default)
    body = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    headline, first_key_sentence, *_ = poisoned
    assert headline in body and first_key_sentence in body, "it goes out, key sentences too"
