"""Remove site furniture from article text: related-link lines, share prompts, captions, credits.

Rules are regular expressions in `arabic/data/boilerplate.yaml` (in sections named by language,
for the last line, per feed), plus an editor's file (`ingest.boilerplate_file`) and per-feed
patterns in feeds.yaml. The language sections all apply to every article, whatever its
language: each pattern names words of one script, and an Arabic page's English furniture line
should go too (see the data file). Matching uses normalized text; the text kept is exactly as
published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

from briefing.arabic import normalize
from briefing.arabic.normalize import normalize_lines
from briefing.errors import BriefingError

_MAX_FURNITURE_WORDS = 25  # a rule never removes a longer line (unless it says so): that is news
_NAV_SEPARATORS = re.compile(r"\s*[|»>•·/]\s*")
_EDGE_PUNCTUATION = " .:،,؛;!؟?-–—\"'«»()"


# No furniture line is longer: the longest rule reaches 70 words, and 2,000 characters is
# three times that in Arabic. Longer lines are never searched (see _is_furniture).
MAX_FURNITURE_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    max_words: int = _MAX_FURNITURE_WORDS

    def matches(self, key: str, words: int | None = None) -> bool:
        """`words`: how many words `key` has, when the caller counted them already."""
        if len(key) > MAX_FURNITURE_CHARS:
            return False
        words = len(key.split()) if words is None else words
        return words <= self.max_words and self.pattern.search(key) is not None


@dataclass(frozen=True, slots=True)
class Rules:
    anywhere: tuple[Rule, ...] = ()  # kept longest max_words first (see _is_furniture)
    last_line: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        by_reach = tuple(sorted(self.anywhere, key=lambda r: -r.max_words))
        object.__setattr__(self, "anywhere", by_reach)

    def __add__(self, other: Rules) -> Rules:
        return Rules(self.anywhere + other.anywhere, self.last_line + other.last_line)


@dataclass(frozen=True, slots=True)
class Cleaned:
    text: str
    removed: tuple[str, ...]


def rules_from_data(data: dict[str, Any] | None, feed: str = "") -> Rules:
    """Rules of one boilerplate.yaml-shaped mapping; the `feeds` part only for `feed`."""
    data = data or {}
    anywhere = [
        _rule(item)
        for key, items in data.items()
        if key not in ("last_line", "feeds")
        for item in items or ()
    ]
    anywhere += [_rule(item) for item in (data.get("feeds") or {}).get(feed, ())]
    return Rules(tuple(anywhere), tuple(_rule(item) for item in data.get("last_line") or ()))


def _rule(item: str | dict[str, Any]) -> Rule:
    if isinstance(item, str):
        return Rule(re.compile(item))
    return Rule(re.compile(item["pattern"]), int(item.get("max_words", _MAX_FURNITURE_WORDS)))


@lru_cache(maxsize=1)
def _packaged_data() -> dict[str, Any]:
    raw = resources.files("briefing.arabic").joinpath("data/boilerplate.yaml").read_text("utf-8")
    return yaml.safe_load(raw) or {}


@lru_cache(maxsize=64)
def _file_data(path: str) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


@lru_cache(maxsize=512)
def rules_for(
    feed: str = "", patterns: tuple[str, ...] = (), extra_file: str | None = None
) -> Rules:
    """The packaged rules, an editor's extra file, and one feed's own patterns, together."""
    rules = rules_from_data(_packaged_data(), feed)
    if extra_file:
        rules = rules + rules_from_data(_file_data(extra_file), feed)
    return rules + Rules(tuple(Rule(re.compile(p)) for p in patterns))


def default_rules() -> Rules:
    return rules_for()


def clean_text(text: str, title: str = "", rules: Rules | None = None) -> Cleaned:
    """Drop furniture lines from `text`; return the rest as published and what was removed."""
    rules = rules if rules is not None else default_rules()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    keys = normalize_lines(lines)
    title_key = normalize(title).strip(_EDGE_PUNCTUATION)
    keep = [not _is_furniture(key, rules.anywhere) for key in keys]
    first = next((i for i, k in enumerate(keep) if k), None)
    if first is not None and title_key and keys[first].strip(_EDGE_PUNCTUATION) == title_key:
        keep[first] = False  # the headline repeated as the first line of the body
    for index in reversed(range(len(lines))):  # the last line still standing
        if keep[index]:
            if any(rule.matches(keys[index]) for rule in rules.last_line):
                keep[index] = False
            break
    kept = [line for line, k in zip(lines, keep, strict=True) if k]
    removed = [line for line, k in zip(lines, keep, strict=True) if not k]
    return Cleaned(text="\n".join(kept), removed=tuple(removed))


def _is_furniture(key: str, rules: Iterable[Rule]) -> bool:
    """`rules` longest max_words first: most news lines are longer than any rule's reach,
    so they leave the loop at once. A line longer than MAX_FURNITURE_CHARS is news (or
    junk no rule is for) whatever its word count: a pattern like `A.*B` searched over a
    huge line without spaces takes time in the square of its length."""
    if len(key) > MAX_FURNITURE_CHARS:
        return False
    words = len(key.split())
    for rule in rules:
        if words > rule.max_words:
            break
        if rule.pattern.search(key):
            return True
    return _is_navigation(key)


def _is_navigation(key: str) -> bool:
    """A breadcrumb or menu: three or more short pieces joined by | » > • /."""
    parts = [p for p in _NAV_SEPARATORS.split(key) if p]
    if len(parts) < 4 or not _NAV_SEPARATORS.search(key):
        return False
    return max(len(p.split()) for p in parts) <= 3


def clean_jsonl(source: TextIO, target: TextIO, rules_of: Callable[[str], Rules]) -> int:
    """`briefing clean`: read {"id", "text", "title"?, "source"?} lines, write what goes.

    Writes {"id", "text", "removed"} per line; `rules_of(source)` gives a feed's rules.
    Returns how many lines were written.
    """
    written = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, key = item["text"], item["id"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BriefingError(
                f"line {number}: expected a JSON object with id and text ({exc})"
            ) from None
        cleaned = clean_text(
            text, title=item.get("title") or "", rules=rules_of(item.get("source") or "")
        )
        record = {"id": key, "text": cleaned.text, "removed": list(cleaned.removed)}
        target.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return written
