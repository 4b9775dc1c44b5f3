"""Common pydantic building blocks for API schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

MAX_ID = 2**62

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id: positive and within a 64-bit signed integer."""

StrictInput = ConfigDict(extra="forbid", str_strip_whitespace=True)
"""Input models refuse unknown fields and strip surrounding white space."""

FromRow = ConfigDict(from_attributes=True)
"""Output models read ORM rows."""
