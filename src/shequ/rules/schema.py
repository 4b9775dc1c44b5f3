"""Reading rule and linkage documents with every problem reported by field path.

A document (a parsed YAML/JSON value) is walked through `Node`s. Each read either returns a
typed value or records a problem ``{"field": "conditions[0].alarm", "code": "rules.not_number",
"message": ..., "params": {...}}`` and returns None, so one pass reports every mistake. The
message is rendered in the requested language (zh-CN by default, or English) through the
``rules.*`` keys of `messages.yaml`; `params` allow rendering it again in another language.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import current_language, t
from shequ.sensing.catalogue import brief

KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
MISSING: Any = object()
_FORMATTER = string.Formatter()


class RulesInvalid(ValidationFailed):
    """A rule or linkage document is invalid; `errors` lists each problem with its field path."""

    code = "rules.invalid"


class Problems:
    """The problems found in one document (optionally a file), rendered in one language."""

    def __init__(self, source: str | None = None, lang: str | None = None,
                 code: str = "rules.invalid") -> None:
        self.source = source
        self.lang = lang or current_language()
        self.code = code
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, code: str, **params: Any) -> None:
        """Record one problem at a field path (``code`` without the ``rules.`` prefix)."""
        key = f"rules.{code}"
        where = path or "(top)"
        if any(item["field"] == where and item["code"] == key for item in self.items):
            return
        text = t(key, self.lang, field=where, **params)
        item: dict[str, Any] = {"field": where, "code": key, "message": text, "params": params}
        if self.source:
            item["file"] = self.source
            item["message"] = f"{self.source}: {text}"
        self.items.append(item)

    def extend(self, other: Problems) -> None:
        """Take over the problems of another document."""
        self.items.extend(other.items)

    def raise_if_any(self) -> None:
        """Raise `RulesInvalid` listing every problem, if there is any."""
        if self.items:
            first = self.items[0]["message"]
            raise RulesInvalid(first, code=self.code, errors=list(self.items),
                               count=len(self.items), first=first)


def join(path: str, key: str | int) -> str:
    """The path of a child: ``a.b`` for keys, ``a[0]`` for indexes."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Node:
    """A value inside a document, with its path and the document's problem list."""

    __slots__ = ("path", "problems", "value")

    def __init__(self, value: Any, path: str, problems: Problems) -> None:
        self.value = value
        self.path = path
        self.problems = problems

    @property
    def present(self) -> bool:
        """Whether the value was given (not missing and not null)."""
        return self.value is not MISSING and self.value is not None

    def fail(self, code: str, **params: Any) -> None:
        """Record a problem at this node."""
        self.problems.add(self.path, code, **params)

    def child(self, key: str | int) -> Node:
        """The node of a key of a mapping or an index of a list (MISSING when absent)."""
        value = self.value
        if isinstance(value, dict) and isinstance(key, str):
            found = value.get(key, MISSING)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            found = value[key]
        else:
            found = MISSING
        return Node(found, join(self.path, key), self.problems)

    def mapping(self, required: Iterable[str] = (), optional: Iterable[str] = ()) -> bool:
        """Whether this is a mapping; records missing required keys and unknown ones."""
        if not isinstance(self.value, dict):
            self.fail("not_mapping", value=brief(self.value))
            return False
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                Node(None, join(self.path, str(key)), self.problems).fail(
                    "unknown_field", allowed=", ".join(sorted(allowed)))
        for key in required:
            if key not in self.value:
                self.child(key).fail("missing")
        return True

    def items(self, *, required: bool = False) -> list[Node]:
        """The nodes of a list (an absent list is empty unless required)."""
        if not self.present:
            if required:
                self.fail("missing")
            return []
        if not isinstance(self.value, list):
            self.fail("not_list", value=brief(self.value))
            return []
        return [self.child(index) for index in range(len(self.value))]

    def entries(self) -> Iterator[tuple[str, Node]]:
        """The key/node pairs of a mapping (nothing when absent; a problem when not a mapping)."""
        if not self.present:
            return
        if not isinstance(self.value, dict):
            self.fail("not_mapping", value=brief(self.value))
            return
        for key in self.value:
            yield str(key), self.child(key)

    def _default(self, default: Any) -> tuple[bool, Any]:
        if self.present:
            return False, None
        if default is MISSING:
            self.fail("missing")
        return True, None if default is MISSING else default

    def text(self, default: Any = MISSING, *, max_length: int = 1000) -> str | None:
        """A non-empty string."""
        absent, value = self._default(default)
        if absent:
            return value
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail("not_text", value=brief(self.value))
            return None
        if len(self.value) > max_length:
            self.fail("too_long", length=len(self.value), limit=max_length)
            return None
        return self.value

    def key(self, default: Any = MISSING) -> str | None:
        """An identifier: lower case letters, digits and underscores, starting with a letter."""
        absent, value = self._default(default)
        if absent:
            return value
        if not isinstance(self.value, str) or not KEY_RE.fullmatch(self.value):
            self.fail("bad_key", value=brief(self.value))
            return None
        return self.value

    def number(self, default: Any = MISSING, *, positive: bool = False,
               minimum: float | None = None) -> float | None:
        """A finite number, optionally > 0 or ≥ a minimum."""
        absent, value = self._default(default)
        if absent:
            return value
        raw = self.value
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.fail("not_number", value=brief(raw))
            return None
        if positive and raw <= 0:
            self.fail("not_positive", value=brief(raw))
            return None
        if minimum is not None and raw < minimum:
            self.fail("below_minimum", value=brief(raw), minimum=minimum)
            return None
        return float(raw)

    def integer(self, default: Any = MISSING, *, minimum: int | None = 1) -> int | None:
        """An integer ≥ `minimum` (1 by default)."""
        absent, value = self._default(default)
        if absent:
            return value
        raw = self.value
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.fail("not_integer", value=brief(raw))
            return None
        if minimum is not None and raw < minimum:
            self.fail("below_minimum", value=brief(raw), minimum=minimum)
            return None
        return raw

    def boolean(self, default: Any = MISSING) -> bool | None:
        """True or false."""
        absent, value = self._default(default)
        if absent:
            return value
        if not isinstance(self.value, bool):
            self.fail("not_boolean", value=brief(self.value))
            return None
        return self.value

    def choice(self, options: Sequence[str], default: Any = MISSING) -> str | None:
        """One of a fixed set of strings."""
        absent, value = self._default(default)
        if absent:
            return value
        if not isinstance(self.value, str) or self.value not in options:
            self.fail("not_allowed", value=brief(self.value), allowed=", ".join(options))
            return None
        return self.value

    def names(self) -> tuple[str, str] | None:
        """A ``{zh, en}`` pair of display names."""
        if not self.present:
            self.fail("missing")
            return None
        if not self.mapping(("zh", "en")):
            return None
        zh, en = self.child("zh").text(), self.child("en").text()
        return (zh, en) if zh is not None and en is not None else None

    def keys(self, *, required: bool = False) -> tuple[str, ...]:
        """A list of distinct identifiers."""
        out: list[str] = []
        for node in self.items(required=required):
            value = node.key()
            if value is None:
                continue
            if value in out:
                node.fail("duplicate", value=value)
            else:
                out.append(value)
        return tuple(out)


def read_document(path: Path, problems: Problems) -> Any:
    """Parse a YAML or JSON file (JSON is YAML); MISSING with a problem when unreadable."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.add("", "syntax", problem=" ".join(str(exc).split())[:300])
        return MISSING


def placeholders(text: str) -> list[str] | None:
    """The ``{name}`` placeholders of a template string; None when it is malformed."""
    names = []
    try:
        for _, name, spec, conversion in _FORMATTER.parse(text):
            if name is None:
                continue
            if spec or conversion or not KEY_RE.fullmatch(name):
                return None
            names.append(name)
    except ValueError:
        return None
    return names


def check_template(node: Node, text: str, allowed: Sequence[str]) -> None:
    """Record a problem when a template uses unknown placeholders or is malformed."""
    names = placeholders(text)
    if names is None:
        node.fail("bad_template", value=brief(text))
        return
    for name in names:
        if name not in allowed:
            node.fail("bad_placeholder", value=name, allowed=", ".join(allowed))


class _SafeDict(dict[str, Any]):
    """Leaves unknown placeholders empty when rendering."""

    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: dict[str, Any]) -> str:
    """Fill a checked template's placeholders (unknown ones become empty)."""
    return template.format_map(_SafeDict(values))

