"""Summaries of stories: extractive key sentences (abstractive summaries build on them)."""

from briefing.summarize.extractive import (
    SummarizeInputError,
    summarize_jsonl,
    summarize_story,
    summarize_text,
)

__all__ = ["SummarizeInputError", "summarize_jsonl", "summarize_story", "summarize_text"]
