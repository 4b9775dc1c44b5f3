"""The domain packages this build installs, in dependency order (lower layers first).

Each may have `models` (tables), `ledgers` (generic ledger declarations) and `api` (a
`router`). The application, the migrations and the tests discover them from here.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

PACKAGES: tuple[str, ...] = (
    "shequ.platform", "shequ.cim", "shequ.sensing", "shequ.notify", "shequ.cases",
    "shequ.people", "shequ.access",
)


def _modules(suffix: str) -> list[ModuleType]:
    found = []
    for package in PACKAGES:
        name = f"{package}.{suffix}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def import_models() -> None:
    """Import every model module so the metadata knows every table."""
    _modules("models")


def ledger_modules() -> list[ModuleType]:
    """Modules that declare ledgers (importing them registers the ledgers)."""
    return _modules("ledgers")


def api_modules() -> list[ModuleType]:
    """Modules with a `router` to mount under /api/v1."""
    return _modules("api")
