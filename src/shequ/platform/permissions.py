"""Built-in roles and menus as data, and permission matching (resource:action patterns)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from shequ.kit import features

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RoleSpec:
    """A built-in role as declared in roles.yaml."""

    code: str
    zh: str
    en: str
    family: str
    scopes: tuple[str, ...]
    permissions: tuple[str, ...]


@lru_cache(maxsize=1)
def builtin_roles() -> dict[str, RoleSpec]:
    """The built-in roles, validated."""
    data = yaml.safe_load((_HERE / "roles.yaml").read_text(encoding="utf-8"))
    roles = {}
    for code, spec in data.items():
        for perm in spec["permissions"]:
            _check_pattern(perm)
        roles[code] = RoleSpec(
            code=code, zh=spec["zh"], en=spec["en"], family=spec["family"],
            scopes=tuple(spec["scopes"]), permissions=tuple(spec["permissions"]),
        )
    return roles


def _check_pattern(pattern: str) -> None:
    if pattern == "*":
        return
    parts = pattern.split(":")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"permission pattern {pattern!r} is not resource:action")


ADMIN_RESOURCES = frozenset({"api_keys", "audit", "roles", "regions"})
"""Resources a resource wildcard (`*:read`) never reaches: they need an explicit grant."""


def matches(pattern: str, permission: str) -> bool:
    """Whether a granted pattern covers a permission (`*`, `res:*`, `*:act`, `res:act`)."""
    if pattern == "*":
        return True
    p_res, _, p_act = pattern.partition(":")
    res, _, act = permission.partition(":")
    if p_res == "*" and res in ADMIN_RESOURCES:
        return False
    return p_res in ("*", res) and p_act in ("*", act)


def grants(patterns: tuple[str, ...] | list[str], permission: str) -> bool:
    """Whether any pattern covers the permission."""
    return any(matches(p, permission) for p in patterns)


@lru_cache(maxsize=1)
def _menus() -> dict[str, Any]:
    """Groups from the platform's menus.yaml; items from every package's menus.yaml."""
    data = dict(yaml.safe_load((_HERE / "menus.yaml").read_text(encoding="utf-8")))
    for path in sorted(_HERE.parent.rglob("menus.yaml")):
        if path.parent != _HERE:
            data["items"] += yaml.safe_load(path.read_text(encoding="utf-8")).get("items", [])
    return data


def menu_for(can: Any, lang: str) -> list[dict[str, Any]]:
    """The portal menu for a principal (`can(permission) -> bool`), grouped by family."""
    data = _menus()
    groups = []
    for group in data["groups"]:
        items = [
            {"key": item["key"], "label": item["zh" if lang == "zh-CN" else "en"],
             "path": item["path"]}
            for item in data["items"]
            if item["group"] == group["key"]
            and features.provided(item["requires"])
            and can(item["permission"])
        ]
        if items:
            label = group["zh" if lang == "zh-CN" else "en"]
            groups.append({"key": group["key"], "label": label, "items": items})
    return groups
