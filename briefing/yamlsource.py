"""YAML loading that remembers where each value was written, for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from briefing.errors import ConfigError

Location = tuple[str | int, ...]

_INDENT_HINT = "indent with spaces, line up keys of one block"


@dataclass(frozen=True, slots=True)
class YamlSource:
    """A parsed YAML file plus the line of every key and list item in it.

    `problems` lists what makes the file unusable (missing, broken YAML, a key written
    twice), each as `file:line: ...`; `data` is None when the file could not be parsed.
    """

    path: Path
    data: Any
    lines: dict[Location, int]
    problems: tuple[str, ...] = ()

    def line_of(self, loc: Location) -> int:
        """The line of `loc`, or of its nearest enclosing value that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


def load_yaml(path: Path) -> YamlSource:
    """Parse `path`; a missing file, broken YAML or a repeated key raise a ConfigError."""
    source = read_yaml(path)
    if source.problems:
        raise ConfigError(list(source.problems))
    return source


def read_yaml(path: Path) -> YamlSource:
    """Parse `path`, never raising: what is wrong with the file is in `problems`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return YamlSource(path, None, {}, (f"{path}: file not found",))
    except IsADirectoryError:
        return YamlSource(path, None, {}, (f"{path}: is a folder, not a YAML file",))
    except UnicodeDecodeError as exc:
        return YamlSource(
            path, None, {}, (f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8",)
        )
    except OSError as exc:
        return YamlSource(path, None, {}, (f"{path}: cannot be read: {exc.strerror}",))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        return YamlSource(path, None, {}, (_syntax_problem(path, exc),))
    lines: dict[Location, int] = {}
    problems: list[str] = []
    data = _to_python(node, (), lines, path, problems) if node is not None else {}
    return YamlSource(path=path, data=data, lines=lines, problems=tuple(problems))


def _syntax_problem(path: Path, exc: yaml.YAMLError) -> str:
    """`file:line:column: not valid YAML: what; how to fix it`, in an editor's words."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context_mark = getattr(exc, "context_mark", None)
    if "'\\t'" in problem:
        what = "a tab character; YAML does not allow tabs for indentation, use spaces"
    elif problem.startswith("mapping values are not allowed here"):
        what = (
            "a second ': ' on this line; quote a value that contains ': ' "
            '(title: "Morning: news"), or this key is indented deeper than the keys above it '
            f"({_INDENT_HINT})"
        )
    elif problem.startswith("expected <block end>") or "could not find expected ':'" in problem:
        what = f"this line is indented differently from the lines of its block; {_INDENT_HINT}"
    elif problem.startswith("found unexpected end of stream") and "quoted" in str(exc):
        opened = f" at line {context_mark.line + 1}" if context_mark else ""
        what = f"a quote opened{opened} is never closed"
    elif "']'" in problem or "'}'" in problem:
        opened = f" at line {context_mark.line + 1}" if context_mark else ""
        what = f"a [ or {{ opened{opened} is not closed (or an item lacks its comma)"
    else:
        what = problem
        if context_mark:
            what += f" (in the block that starts at line {context_mark.line + 1})"
    return f"{path}{where}: not valid YAML: {what}"


def _to_python(
    node: yaml.Node, loc: Location, lines: dict[Location, int], path: Path, problems: list[str]
) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value  # keys are always read as strings
            line = key_node.start_mark.line + 1
            if key in result:
                first = lines[(*loc, key)]
                problems.append(
                    f'{path}:{line}: key "{key}" appears twice (first at line {first}); '
                    "keep one of them"
                )
                continue  # the first one stands; the run does not start anyway
            result[key] = _to_python(value_node, (*loc, key), lines, path, problems)
            lines[(*loc, key)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*loc, i), lines, path, problems) for i, item in enumerate(node.value)
        ]
    return _construct_scalar(node)


def _construct_scalar(node: yaml.Node) -> Any:
    """Resolve a scalar exactly as yaml.safe_load would (ints, bools, nulls, dates...)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
