"""Personal-data protection (6.8.1): every field classified, the five export policies,
and a classification that breaks the rules refused at load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from shequ import installed
from shequ.kit.ledger import Ledger
from shequ.people import privacy
from shequ.people.privacy import FieldRule, Level, ProtectedLedger

installed.import_models()
installed.ledger_modules()
PROTECTED = sorted(name for name, ledger in Ledger.registry.items()
                   if isinstance(ledger, ProtectedLedger))


def test_the_people_and_access_ledgers_are_protected() -> None:
    assert {"persons", "vehicles", "residencies", "credentials", "pass_records", "visitors",
            "registrations", "watchlists"} <= set(PROTECTED)


@pytest.mark.parametrize("name", PROTECTED)
def test_every_field_is_classified(name: str) -> None:
    ledger = Ledger.registry[name]
    assert set(ledger.read_schema.model_fields) == set(privacy.rules_for(name))
    confidential = {f for f, r in privacy.rules_for(name).items()
                    if r.level == Level.confidential}
    assert set(ledger.personal) == confidential
    assert ledger.audit_reads


def test_substitution_is_consistent_and_keyed() -> None:
    rule = FieldRule(Level.internal, export="substitute", params={"style": "name"})
    first, again, other = (rule.export_value(v) for v in ("王小明", "王小明", "李四"))
    assert first == again != "王小明" and first != other and len(first) == 3
    assert FieldRule(Level.internal, export="substitute",
                     params={"prefix": "P"}).export_value(42).startswith("P")


def test_randomisation_keeps_the_format_and_changes_the_value() -> None:
    rule = FieldRule(Level.confidential, mask="phone", export="randomise",
                     params={"keep_prefix": 3})
    for _ in range(20):
        out = rule.export_value("13905710001")
        assert out != "13905710001" and out[:3] == "139" and out.isdigit() and len(out) == 11
    assert FieldRule(Level.internal, export="randomise").export_value("AB-12") != "AB-12"


def test_offset_and_rounding() -> None:
    shift = FieldRule(Level.internal, export="offset", params={"days": 10})
    assert shift.export_value(dt.date(2026, 1, 1)) == "2026-01-11"
    year = FieldRule(Level.internal, export="offset", params={"round": "year"})
    assert year.export_value(dt.date(1961, 7, 19)) == "1961"
    bucket = FieldRule(Level.internal, export="offset", params={"bucket": 500})
    assert bucket.export_value(3280.0) == 3000.0
    keyed = FieldRule(Level.internal, export="offset")
    moved = keyed.export_value(dt.date(2026, 1, 1))
    assert moved == keyed.export_value(dt.date(2026, 1, 1)) != "2026-01-01"


def test_masking_and_nullification() -> None:
    assert FieldRule(Level.confidential, mask="id_number", export="mask").export_value(
        "11010519491231002X") == "110105********002X"
    assert FieldRule(Level.confidential, mask="plate", export="mask").export_value(
        "浙AD12345") == "浙A*****5"
    assert FieldRule(Level.internal, export="nullify").export_value("备注") is None


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "classification.yaml"
    monkeypatch.setattr(privacy, "CLASSIFICATION", path)
    privacy.classification.cache_clear()
    yield path
    privacy.classification.cache_clear()


@pytest.mark.parametrize(("spec", "message"), [
    ("{level: confidential}", "needs a mask"),
    ("{level: internal, export: shred}", "unknown policy"),
    ("{level: confidential, mask: blur}", "unknown mask"),
    ("secret", "is not a valid Level"),
])
def test_a_bad_classification_is_refused(scratch: Path, spec: str, message: str) -> None:
    scratch.write_text(f"things:\n  field: {spec}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        privacy.classification()
