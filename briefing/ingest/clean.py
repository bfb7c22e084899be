"""Remove site furniture from article text: related-link lines, share prompts, credits.

Rules are regular expressions in `arabic/data/boilerplate.yaml` (per language), plus per-feed
extras. Matching uses normalized text; the text kept is exactly as published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from briefing.arabic import normalize

_MAX_FURNITURE_WORDS = 25  # a rule never removes a line longer than this: that is news


@dataclass(frozen=True, slots=True)
class Cleaned:
    text: str
    removed: tuple[str, ...]


@lru_cache(maxsize=1)
def default_rules() -> tuple[re.Pattern[str], ...]:
    raw = resources.files("briefing.arabic").joinpath("data/boilerplate.yaml").read_text("utf-8")
    data = yaml.safe_load(raw) or {}
    return tuple(re.compile(p) for patterns in data.values() for p in patterns)


def clean_text(
    text: str, title: str = "", extra_rules: tuple[re.Pattern[str], ...] = ()
) -> Cleaned:
    """Drop furniture lines from `text`; return the rest as published and what was removed."""
    rules = default_rules() + extra_rules
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kept: list[str] = []
    removed: list[str] = []
    title_key = normalize(title)
    for index, line in enumerate(lines):
        key = normalize(line)
        furniture = len(key.split()) <= _MAX_FURNITURE_WORDS and any(r.search(key) for r in rules)
        repeated_title = index == 0 and title_key and key.strip(" .:") == title_key.strip(" .:")
        if furniture or repeated_title:
            removed.append(line)
        else:
            kept.append(line)
    return Cleaned(text="\n".join(kept), removed=tuple(removed))
