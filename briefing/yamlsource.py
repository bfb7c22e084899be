"""YAML loading that remembers where each value was written, for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from briefing.errors import ConfigError

Location = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlSource:
    """A parsed YAML file plus the line of every key and list item in it."""

    path: Path
    data: Any
    lines: dict[Location, int]

    def line_of(self, loc: Location) -> int:
        """The line of `loc`, or of its nearest enclosing value that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


def load_yaml(path: Path) -> YamlSource:
    """Parse `path`; a missing file or broken YAML becomes a ConfigError with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}{where}: not valid YAML: {problem}"]) from exc
    lines: dict[Location, int] = {}
    data = _to_python(node, (), lines) if node is not None else {}
    return YamlSource(path=path, data=data, lines=lines)


def _to_python(node: yaml.Node, loc: Location, lines: dict[Location, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value  # keys are always read as strings
            result[key] = _to_python(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return _construct_scalar(node)


def _construct_scalar(node: yaml.Node) -> Any:
    """Resolve a scalar exactly as yaml.safe_load would (ints, bools, nulls, dates...)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
