"""One translation mechanism for every user-facing text (zh-CN default, English).

Messages live in `messages.yaml` files anywhere under the `shequ` package; each key maps
language codes to templates formatted with `str.format` parameters.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")

_current = contextvars.ContextVar("language", default=DEFAULT_LANGUAGE)
_extra: dict[str, dict[str, str]] = {}


def _catalogue_files() -> Iterator[Path]:
    root = Path(__file__).resolve().parent.parent
    yield from sorted(root.rglob("messages.yaml"))


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in _catalogue_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, texts in data.items():
            if key in merged:
                raise ValueError(f"message key {key!r} defined twice ({path})")
            missing = [lang for lang in LANGUAGES if lang not in texts]
            if missing:
                raise ValueError(f"message key {key!r} in {path} lacks {missing}")
            merged[key] = texts
    return merged


def register(key: str, zh: str, en: str) -> None:
    """Add a message at run time (used by declarations such as ledger labels)."""
    _extra[key] = {"zh-CN": zh, "en": en}


def has(key: str) -> bool:
    """Whether a message key is known."""
    return key in _extra or key in _catalogue()


def negotiate(accept_language: str | None) -> str:
    """Pick zh-CN or en from an Accept-Language header (zh-CN when nothing matches)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = _match(tag.strip().lower())
        if lang and quality > 0:
            choices.append((-quality, index, lang))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


def _match(tag: str) -> str | None:
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def set_language(lang: str) -> contextvars.Token[str]:
    """Set the language of the current request or command."""
    return _current.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def reset_language(token: contextvars.Token[str]) -> None:
    """Restore the language before `set_language`."""
    _current.reset(token)


def current_language() -> str:
    """The language of the current request or command."""
    return _current.get()


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """Translate a message key, falling back to the key itself when unknown."""
    texts = _extra.get(key) or _catalogue().get(key)
    if texts is None:
        return key
    template = texts.get(lang or _current.get()) or texts[DEFAULT_LANGUAGE]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def both(key: str, **params: Any) -> dict[str, str]:
    """The message in every supported language."""
    return {lang: t(key, lang, **params) for lang in LANGUAGES}
