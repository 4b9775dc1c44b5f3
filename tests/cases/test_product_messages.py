"""The messages of the case verbs, plans, patrol and notifications: both languages, every
code raised has a message, every message is used, enum labels match their enums."""

from __future__ import annotations

import enum
import re
import string
from pathlib import Path

import pytest
import yaml

from shequ.cases import models
from shequ.kit.i18n import LANGUAGES, t

CASES = Path(models.__file__).parent
LOCALE = yaml.safe_load((CASES / "locale" / "messages.yaml").read_text("utf-8"))
ENGINE = yaml.safe_load((CASES / "messages.yaml").read_text("utf-8"))
NOTIFY = yaml.safe_load((CASES.parent / "notify" / "messages.yaml").read_text("utf-8"))
SOURCES = "\n".join(p.read_text("utf-8") for p in (
    *(CASES / name for name in ("service.py", "api.py", "tasks.py", "ledgers.py")),
    *(CASES.parent / "notify").glob("*.py")))
ENUMS = [e for e in vars(models).values() if isinstance(e, type) and issubclass(e, enum.Enum)
         and e.__module__ == models.__name__]


def test_every_message_has_both_languages_and_a_prefix() -> None:
    for catalogue, prefixes in ((LOCALE, ("cases.", "enum.")), (NOTIFY, ("notify.",))):
        for key, texts in catalogue.items():
            assert key.startswith(prefixes), key
            assert set(texts) == set(LANGUAGES), key


def test_every_code_used_has_a_message_and_every_message_is_used() -> None:
    used = set(re.findall(r'"((?:cases|notify)\.[a-z_]+(?:\.[a-z_]+)*)"', SOURCES))
    used |= {f"cases.action.{a}" for a in re.findall(r'_step\(row, subject, "(\w+)"', SOURCES)}
    used -= set(re.findall(r'audit\(session, \w+, "([\w.]+)"', SOURCES))  # audit actions
    known = set(LOCALE) | set(ENGINE) | set(NOTIFY)
    assert sorted(used - known) == []
    enum_keys = {f"enum.{e.__name__}.{m.value}" for e in ENUMS for m in e}
    assert sorted(set(LOCALE) - used - enum_keys) == []
    assert sorted(enum_keys - set(LOCALE)) == []
    assert sorted(set(NOTIFY) - used) == []


@pytest.mark.parametrize("key", sorted({**LOCALE, **NOTIFY}))
def test_templates_render_in_both_languages(key: str) -> None:
    for lang in LANGUAGES:
        names = [name for _, name, _, _ in string.Formatter().parse(
            {**LOCALE, **NOTIFY}[key][lang]) if name]
        rendered = t(key, lang, **dict.fromkeys(names, "x"))
        assert "{" not in rendered and rendered.strip(), (key, lang)
