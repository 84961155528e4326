"""YAML that remembers where each value came from, so validation errors name the line and the reason.

:func:`load_yaml` parses a document into plain Python values plus a map from each value's path
(``("rules", 2, "severity")``) to its 1-based line. :func:`validate` runs a pydantic model over the
values and turns every error into ``file:line: path: reason``. Duplicate keys, which PyYAML would
silently resolve to the last one, are errors too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    line: int | None
    path: str
    reason: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


class ConfigError(ValueError):
    """A configuration file is malformed; ``problems`` lists each one with its line."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


@dataclass
class Located:
    """Parsed YAML values and the line of every path in them."""

    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of the longest prefix of ``loc`` that exists in the document.

        Pydantic locations may contain entries that are not in the data (union member names,
        validator names); those are skipped.
        """
        node: Any = self.value
        path: list[str | int] = []
        best = self.lines.get(())
        for part in loc:
            found, child = _child(node, part)
            if not found:
                continue
            node = child
            path.append(part)
            best = self.lines.get(tuple(path), best)
        return best


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and isinstance(part, str) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ConfigError("", [Problem(line, _fmt(path), f"keys must be strings, got {key!r}")])
            if key in out:
                raise ConfigError("", [Problem(line, _fmt((*path, key)), f"duplicate key {key!r}")])
            out[key] = _walk(value_node, (*path, key), lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, source: str = "<string>") -> Located:
    """Parse one YAML document, keeping line numbers; raise :class:`ConfigError` when it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return Located({}, {(): 1})
        lines: dict[Path_, int] = {}
        value = _walk(root, (), lines, loader)
    except ConfigError as exc:
        raise ConfigError(source, exc.problems) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(source, [Problem(line, "", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [Problem(None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return Located(value, lines)


def _fmt(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _data_loc(doc: Located, loc: Sequence[str | int]) -> list[str | int]:
    """``loc`` without the entries pydantic adds that are not in the data (union tags, validators)."""
    node: Any = doc.value
    out: list[str | int] = []
    for i, part in enumerate(loc):
        found, child = _child(node, part)
        if found:
            node = child
        elif not (i == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict)):
            continue  # not in the data (a union tag...); a missing field, last, is named
        out.append(part)
    return out


def problems_of(exc: ValidationError, doc: Located) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = _data_loc(doc, err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}" if loc else "unknown field"
        problems.append(Problem(doc.line_of(err["loc"]), _fmt(loc), msg))
    return problems


def validate(model: type[M], doc: Located, source: str) -> M:
    """``model`` built from ``doc``; every error rendered as ``source:line: path: reason``."""
    try:
        return model.model_validate(doc.value)
    except ValidationError as exc:
        raise ConfigError(source, problems_of(exc, doc)) from None


def parse(model: type[M], text: str, source: str = "<string>") -> M:
    return validate(model, load_yaml(text, source), source)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1.5h"``, ``"2d"``, ``"1w"`` or a number of seconds → timedelta (≥ 0)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m', got {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration like '90s', '15m', '1h' or '2d', got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise ValueError(f"expected a duration like '15m', got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    seconds = td.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_S[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
