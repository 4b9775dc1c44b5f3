"""Every message the rules package uses exists in both languages, and no key is unused."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from shequ import rules
from shequ.kit.i18n import LANGUAGES, has
from shequ.rules.places import PLACE_LEVELS

PACKAGE = Path(rules.__file__).parent
MESSAGES = yaml.safe_load((PACKAGE / "messages.yaml").read_text("utf-8"))
SOURCES = "\n".join(p.read_text("utf-8") for p in sorted(PACKAGE.glob("*.py")))


def used_codes() -> set[str]:
    """The message keys the sources refer to."""
    codes = set(re.findall(r'\.fail\(\s*"(\w+)"', SOURCES))
    codes |= set(re.findall(r'\.add\([^,()]+(?:\([^()]*\))?[^,()]*,\s*"(\w+)"', SOURCES))
    codes |= {f"{prefix}_{what}" for prefix in ("unknown", "no_type_has")
              for what in ("metric", "event")}
    keys = {f"rules.{code}" for code in codes}
    keys |= set(re.findall(r'"(rules\.[\w.]+)"', SOURCES))
    keys |= {f"rules.level.{level}" for level in ("warning", "alarm")}
    keys |= {f"rules.place.{level}" for level in PLACE_LEVELS if level != "community"}
    keys.add("rules.place.unknown")
    return keys


def test_every_key_is_prefixed_and_in_both_languages() -> None:
    for key, texts in MESSAGES.items():
        assert key.startswith("rules."), key
        assert set(texts) == set(LANGUAGES), key
        assert has(key)


def test_every_used_code_has_a_message_and_every_message_is_used() -> None:
    used = used_codes()
    assert {"rules.tier_order", "rules.unknown_command", "rules.syntax"} <= used
    assert sorted(used - set(MESSAGES)) == []
    assert sorted(set(MESSAGES) - used) == []


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_take_the_same_placeholders(key: str) -> None:
    names = [{name for _, name, _, _ in string.Formatter().parse(MESSAGES[key][lang]) if name}
             for lang in LANGUAGES]
    assert names[0] == names[1], key
