"""Field introspection for ledgers: python types, enums, labels and value parsing."""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Mapped

from shequ.kit.errors import BadRequest
from shequ.kit.i18n import has, t

TYPE_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dt.date: "date",
    dt.datetime: "datetime",
}


@dataclass(frozen=True)
class FieldInfo:
    """What the generic layer knows of one column."""

    name: str
    python_type: type
    nullable: bool

    @property
    def enum(self) -> type[enum.Enum] | None:
        """The enum class when the column holds an enum."""
        return self.python_type if issubclass(self.python_type, enum.Enum) else None

    @property
    def type_name(self) -> str:
        """The JSON-facing type name used in metadata."""
        if self.enum is not None:
            return "enum"
        for base, name in TYPE_NAMES.items():
            if issubclass(self.python_type, base) and not (base is dt.date and issubclass(
                    self.python_type, dt.datetime)):
                return name
        return "json"


def _unwrap(hint: Any) -> tuple[type, bool]:
    origin = typing.get_origin(hint)
    if origin is Mapped:
        hint = typing.get_args(hint)[0]
        origin = typing.get_origin(hint)
    nullable = False
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else object
    if typing.get_origin(hint) is not None:
        hint = typing.get_origin(hint)
    return (hint if isinstance(hint, type) else object), nullable


_FIELDS: dict[Any, dict[str, FieldInfo]] = {}


def model_fields(model: Any) -> dict[str, FieldInfo]:
    """Every mapped column of a model with its python type (cached per model)."""
    if model not in _FIELDS:
        _FIELDS[model] = _introspect(model)
    return _FIELDS[model]


def _introspect(model: Any) -> dict[str, FieldInfo]:
    hints: dict[str, Any] = {}
    for klass in reversed(model.__mro__):
        if klass is object:
            continue
        try:
            hints.update(typing.get_type_hints(klass, include_extras=False))
        except (NameError, TypeError):
            continue
    columns = model.__table__.columns
    found = {}
    for col in columns:
        py, nullable = _unwrap(hints.get(col.key, object))
        if py is object:
            try:
                py = col.type.python_type
            except NotImplementedError:
                py = object
        found[col.key] = FieldInfo(col.key, py, nullable or bool(col.nullable))
    return found


def parse_value(info: FieldInfo, raw: str, param: str) -> Any:
    """Parse a query-string value for a column; 400 with the parameter named on failure."""
    if "\x00" in raw:
        raise BadRequest(code="request.bad_filter", name=param, value=raw.replace("\x00", "␀"))
    try:
        return _parse(info, raw.strip())
    except (ValueError, KeyError) as exc:
        raise BadRequest(code="request.bad_filter", name=param, value=raw[:80]) from exc


def _parse(info: FieldInfo, raw: str) -> Any:
    py = info.python_type
    if info.enum is not None:
        return info.enum(raw).value
    if py is bool:
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(raw)
    if issubclass(py, dt.datetime):
        value = dt.datetime.fromisoformat(raw)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if issubclass(py, dt.date):
        return dt.date.fromisoformat(raw)
    if py is int:
        value_i = int(raw)
        if abs(value_i) > 2**62:
            raise ValueError(raw)
        return value_i
    if py is float:
        return float(raw)
    if len(raw) > 200:
        raise ValueError(raw)
    return raw


def enum_label(enum_cls: type[enum.Enum], value: Any, lang: str | None = None) -> str:
    """The translated label of an enum value (its raw value when no label exists)."""
    key = f"enum.{enum_cls.__name__}.{getattr(value, 'value', value)}"
    return t(key, lang) if has(key) else str(getattr(value, "value", value))
