"""Every message the case engine raises exists in both languages and formats cleanly."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from shequ.cases import definitions, schedule
from shequ.cases.definitions import Text, TextList
from shequ.kit.errors import ShequError
from shequ.kit.i18n import LANGUAGES, has, t

PACKAGE = Path(definitions.__file__).parent
MESSAGES = yaml.safe_load((PACKAGE / "messages.yaml").read_text("utf-8"))
SOURCES = "\n".join(p.read_text("utf-8") for p in (PACKAGE / "definitions.py",
                                                      PACKAGE / "schedule.py"))


def _used_codes() -> set[str]:
    codes = {f"cases.field.{c}" for c in re.findall(r'_Invalid\("(\w+)"', SOURCES)}
    codes |= {f"cases.field.{c}" for c in re.findall(r'_error\([^()]*(?:\([^()]*\))?[^()]*?'
                                                     r', "(\w+)"', SOURCES)}
    codes |= {f"cases.schedule.{c}" for c in re.findall(r'problems\.add\([^,]+, "(\w+)"',
                                                        SOURCES)}
    codes |= set(re.findall(r'code ?= ?"(cases\.[\w.]+)"', SOURCES))
    return codes


def test_every_key_is_prefixed_and_in_both_languages() -> None:
    assert MESSAGES
    for key, texts in MESSAGES.items():
        assert key.startswith("cases."), key
        assert set(texts) == set(LANGUAGES), key
        assert has(key)


def test_every_raised_code_has_a_message() -> None:
    used = _used_codes()
    assert {"cases.field.required", "cases.field.after", "cases.schedule.never_fires",
            "cases.illegal_transition", "cases.step_invalid"} <= used
    assert sorted(used - set(MESSAGES)) == []
    assert sorted(set(MESSAGES) - used) == []


def test_error_classes_have_messages() -> None:
    classes = [c for module in (definitions, schedule) for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, ShequError)
               and c.__module__ == module.__name__]
    assert len(classes) >= 9
    for cls in classes:
        assert cls.code in MESSAGES, cls


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_templates_use_the_label_of_their_language(key: str) -> None:
    for lang, spec_ok in (("zh-CN", {"", "zh"}), ("en", {"", "en"})):
        fields = [(name, spec) for _, name, spec, _ in
                  string.Formatter().parse(MESSAGES[key][lang]) if name]
        assert all(spec in spec_ok for _, spec in fields), (key, lang, fields)
        params = {name: Text("甲", "A") if spec else 1 for name, spec in fields}
        rendered = t(key, lang, **params)
        assert "{" not in rendered, (key, lang)


def test_labels_follow_the_template_language() -> None:
    label = Text("已提交", "Submitted")
    assert format(label, "zh") == "已提交" and format(label, "en") == "Submitted"
    both = TextList((Text("受理", "Accept"), Text("撤回", "Withdraw")))
    assert format(both, "zh") == "受理、撤回" and format(both, "en") == "Accept, Withdraw"
    assert format(TextList(()), "en") == "none"
