"""Resident ID numbers (GB 11643) and number plates (including 8-character new-energy
plates): what is accepted, what is refused, and with which code."""

from __future__ import annotations

import datetime as dt

import pytest

from shequ.people.identity import (
    Gender,
    IdType,
    PlateKind,
    check_digit,
    compose_resident_id,
    normalise_document,
    parse_plate,
    parse_resident_id,
)


def test_the_standard_example_and_its_check_character() -> None:
    assert check_digit("11010519491231002") == "X"
    parsed = parse_resident_id("11010519491231002x")
    assert parsed.number == "11010519491231002X"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == Gender.female
    male = compose_resident_id("440524", dt.date(1980, 1, 1), 1)
    assert parse_resident_id(male).gender == Gender.male


@pytest.mark.parametrize("sequence", range(0, 1000, 37))
def test_composed_numbers_always_validate(sequence: int) -> None:
    number = compose_resident_id("330106", dt.date(1990, 2, 28), sequence)
    assert parse_resident_id(number).number == number


@pytest.mark.parametrize(("number", "code"), [
    ("11010519491231002Y", "people.id.format"),
    ("1101051949123100", "people.id.format"),
    ("110105194912310021", "people.id.check_digit"),
    ("99010519491231002X", "people.id.region"),
    (compose_resident_id("330106", dt.date(1990, 1, 1), 1)[:10] + "0230" + "0011",
     "people.id.birth_date"),
    ("110105" + "18991231" + "0011", "people.id.birth_date"),
])
def test_invalid_numbers_name_their_reason(number: str, code: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_resident_id(number)
    assert getattr(caught.value, "type", None) == code


def test_a_birth_date_in_the_future_is_refused() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    number = compose_resident_id("330106", tomorrow, 5)
    with pytest.raises(ValueError) as caught:
        parse_resident_id(number)
    assert getattr(caught.value, "type", None) == "people.id.birth_date"


def test_other_documents_are_checked_for_their_shape() -> None:
    assert normalise_document(IdType.passport, " e1234 5678 ") == "E12345678"
    with pytest.raises(ValueError):
        normalise_document(IdType.passport, "护照号码")


@pytest.mark.parametrize(("raw", "text", "kind"), [
    ("浙A12345", "浙A12345", PlateKind.ordinary),
    ("浙a·b2c45", "浙AB2C45", PlateKind.ordinary),
    ("京A1234学", "京A1234学", PlateKind.ordinary),
    ("粤BD12345", "粤BD12345", PlateKind.new_energy_small),
    ("沪AF1A234", None, None),
    ("沪ADA1234", "沪ADA1234", PlateKind.new_energy_small),
    ("苏E12345F", "苏E12345F", PlateKind.new_energy_large),
])
def test_plates(raw: str, text: str | None, kind: PlateKind | None) -> None:
    if text is None:
        with pytest.raises(ValueError):
            parse_plate(raw)
        return
    plate = parse_plate(raw)
    assert (plate.text, plate.kind) == (text, kind)


@pytest.mark.parametrize(("raw", "code"), [
    ("A123456", "people.plate.province"),
    ("浙A1234", "people.plate.length"),
    ("浙AI2345", "people.plate.serial"),
    ("浙AO2345", "people.plate.serial"),
    ("浙1A2345", "people.plate.issuer"),
    ("浙AX12345", "people.plate.new_energy"),
    ("浙AD1A345", "people.plate.new_energy"),
    ("浙A1234D5", "people.plate.new_energy"),
])
def test_invalid_plates_name_their_reason(raw: str, code: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_plate(raw)
    assert getattr(caught.value, "type", None) == code
