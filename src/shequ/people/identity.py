"""Identity documents and number plates: parsing and validation with stable error codes.

Resident identity numbers follow GB 11643-1999: six digits of address code, eight of birth
date, three of sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
Plates follow GA 36: a province abbreviation, the issuing authority's letter, then five
characters (ordinary plates) or six (new-energy plates, 8 characters in all).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91",
})
EARLIEST_BIRTH = dt.date(1900, 1, 1)


class IdType(enum.StrEnum):
    """Kinds of identity document (证件类型)."""

    resident_id = "resident_id"
    passport = "passport"
    hk_macao_permit = "hk_macao_permit"
    taiwan_permit = "taiwan_permit"
    foreign_permanent = "foreign_permanent"
    other = "other"


class Gender(enum.StrEnum):
    """Gender as recorded on identity documents."""

    male = "male"
    female = "female"
    unknown = "unknown"


@dataclass(frozen=True)
class ResidentId:
    """What a valid resident identity number says."""

    number: str
    region: str
    birth_date: dt.date
    gender: Gender


def check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def compose_resident_id(region: str, born: dt.date, sequence: int) -> str:
    """A resident identity number with its check character (for examples and the demo)."""
    first17 = f"{region}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)


def parse_resident_id(raw: str, today: dt.date | None = None) -> ResidentId:
    """Validate an 18-character resident identity number; errors carry stable codes."""
    number = "".join(raw.split()).upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise _id_error("people.id.format")
    if number[:2] not in PROVINCE_CODES:
        raise _id_error("people.id.region")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _id_error("people.id.birth_date") from None
    if not EARLIEST_BIRTH <= born <= (today or dt.date.today()):
        raise _id_error("people.id.birth_date")
    if check_digit(number[:17]) != number[17]:
        raise _id_error("people.id.check_digit")
    gender = Gender.male if int(number[16]) % 2 else Gender.female
    return ResidentId(number, number[:6], born, gender)


def normalise_document(id_type: IdType, raw: str) -> str:
    """A document number in its canonical form, validated for its type."""
    if id_type == IdType.resident_id:
        return parse_resident_id(raw).number
    number = "".join(raw.split()).upper()
    patterns = {
        IdType.passport: r"[A-Z0-9]{5,17}",
        IdType.hk_macao_permit: r"[HMCK]?[A-Z0-9]{8,10}",
        IdType.taiwan_permit: r"[A-Z0-9]{8,10}",
        IdType.foreign_permanent: r"[A-Z0-9]{9,18}",
        IdType.other: r"[A-Z0-9()\-]{4,30}",
    }
    if not re.fullmatch(patterns[id_type], number):
        raise _id_error("people.id.document_format")
    return number


def _id_error(code: str) -> PydanticCustomError:
    return PydanticCustomError(code, code)


# -- number plates --------------------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # I and O are never used in serials
ISSUERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # O is issued to police in some provinces
SPECIAL_SUFFIX = "挂学警港澳领使试超"
NEV_PURE = "DABCE"  # pure electric (D, and the later A, B, C, E series)
NEV_HYBRID = "FGHJK"  # not purely electric (F, and the later G, H, J, K series)


class PlateKind(enum.StrEnum):
    """What the plate's format says about the vehicle."""

    ordinary = "ordinary"
    new_energy_small = "new_energy_small"
    new_energy_large = "new_energy_large"


@dataclass(frozen=True)
class Plate:
    """A valid plate in canonical form (upper case, no spaces or separators)."""

    text: str
    kind: PlateKind


def parse_plate(raw: str) -> Plate:
    """Validate a plate (7 characters, or 8 for new-energy vehicles); errors carry codes."""
    text = re.sub(r"[\s·•.\-]", "", raw).upper()
    if len(text) not in (7, 8) or text[0] not in PROVINCES:
        raise _plate_error("people.plate.province" if text and text[0] not in PROVINCES
                           else "people.plate.length")
    if text[1] not in ISSUERS:
        raise _plate_error("people.plate.issuer")
    serial = text[2:]
    if len(serial) == 5:
        return Plate(text, _ordinary(serial))
    return Plate(text, _new_energy(serial))


def _ordinary(serial: str) -> PlateKind:
    head, last = serial[:4], serial[4]
    if all(c in SERIAL for c in head) and (last in SERIAL or last in SPECIAL_SUFFIX):
        return PlateKind.ordinary
    raise _plate_error("people.plate.serial")


def _new_energy(serial: str) -> PlateKind:
    energy = NEV_PURE + NEV_HYBRID
    if serial[0] in energy and serial[1] in SERIAL and _digits(serial[2:]):
        return PlateKind.new_energy_small
    if _digits(serial[:5]) and serial[5] in energy:
        return PlateKind.new_energy_large
    raise _plate_error("people.plate.new_energy")


def _digits(text: str) -> bool:
    return all(c in "0123456789" for c in text)


def _plate_error(code: str) -> PydanticCustomError:
    return PydanticCustomError(code, code)
