"""Common pydantic building blocks for API schemas."""

from __future__ import annotations

import copy
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

MAX_ID = 2**62

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id: positive and within a 64-bit signed integer."""

StrictInput = ConfigDict(extra="forbid", str_strip_whitespace=True)
"""Input models refuse unknown fields and strip surrounding white space."""

FromRow = ConfigDict(from_attributes=True)
"""Output models read ORM rows."""


def partial(model: type[BaseModel], name: str | None = None,
            exclude: tuple[str, ...] = ("community_id",)) -> type[BaseModel]:
    """An update model: the same fields, constraints and validators, every field optional.

    Fields in `exclude` (by default the tenant key) cannot be changed: they accept no value.
    """
    fields: dict[str, Any] = {}
    required: list[str] = []
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            fields[field_name] = (None, Field(default=None, exclude=True))
            continue
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (info.annotation | None, optional)  # type: ignore[operator]
        if not _allows_none(info.annotation):
            required.append(field_name)
    validators = {"_refuse_null": field_validator(*required)(_refuse_null)} if required else {}
    return create_model(name or model.__name__.replace("Create", "Update"), __base__=model,
                        __doc__=f"A change to {model.__name__.removesuffix('Create')} "
                        "(every field optional).", __validators__=validators, **fields)


def _allows_none(annotation: Any) -> bool:
    return annotation is None or annotation is Any or type(None) in typing.get_args(annotation)


def _refuse_null(cls: Any, value: Any) -> Any:
    """Fields that cannot be empty may be left out of a change, but not set to null."""
    if value is None:
        raise ValueError("this field cannot be null; leave it out to keep its value")
    return value


def editable(model: type[BaseModel]) -> list[str]:
    """The fields an update model lets a caller change (fixed fields accept only None)."""
    return [name for name, info in model.model_fields.items()
            if info.annotation is not None and info.annotation is not type(None)]


def row_schema(table_model: Any, name: str, exclude: tuple[str, ...] = ("deleted_at",),
               ) -> type[BaseModel]:
    """An output model with one field per column of an ORM model, typed from the model."""
    from shequ.kit.fields import model_fields

    fields: dict[str, Any] = {}
    for column, info in model_fields(table_model).items():
        if column in exclude:
            continue
        kind: Any = info.python_type if info.python_type is not object else Any
        fields[column] = (kind | None, None) if info.nullable else (kind, ...)
    return create_model(name, __config__=FromRow,
                        __doc__=f"A {table_model.__name__} as the API returns it.", **fields)
