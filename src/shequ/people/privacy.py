"""Personal-data protection (6.8.1): field classification as data, masks, export policies.

Every field of a protected ledger is classified in `classification.yaml` as `public`,
`internal` or `confidential`. Confidential fields are masked on output unless the reader holds
`<resource>:personal` (the ledger's `personal` masks are derived from here), unmasked reads of
them are audited, and the audit trail keeps only their masked form and a keyed fingerprint.
Any field may name an export policy (6.8.1.3): `substitute` (consistent pseudonyms),
`randomise` (same format, other value), `offset` (dates shifted by a fixed number of days,
numbers rounded down to a bucket, dates rounded to the year), `mask` and `nullify`; the
generic export applies them for readers without `:personal`.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from sqlalchemy.orm import Session

from shequ.kit.ledger import AuditSink, Ledger
from shequ.kit.scope import Principal
from shequ.platform.security.fields import mask_id_number, mask_phone
from shequ.platform.security.sm import blind_index, hmac_sm3, keyring

M = TypeVar("M")
CLASSIFICATION = Path(__file__).with_name("classification.yaml")


class Level(enum.StrEnum):
    """How sensitive a field is (6.8.1.2)."""

    public = "public"
    internal = "internal"
    confidential = "confidential"


def mask_text(value: Any) -> Any:
    """Keep the first character of a text: 张** / 浙江******."""
    if not value:
        return value
    text = str(value)
    return text[:1] + "*" * max(2, min(len(text) - 1, 8))


def mask_plate(value: Any) -> Any:
    """Keep province, issuer and the last character of a plate: 浙A***5."""
    if not value:
        return value
    text = str(value)
    return text[:2] + "*" * (len(text) - 3) + text[-1:]


def nullify(_: Any) -> None:
    """Drop the value (数据无效化)."""
    return None


MASKS: dict[str, Callable[[Any], Any]] = {
    "phone": mask_phone, "id_number": mask_id_number, "text": mask_text, "plate": mask_plate,
    "nullify": nullify,
}


# -- export policies (6.8.1.3) ----------------------------------------------------------------

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩"
            "冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩晨欣怡婷雪琳"


def _keyed(purpose: str, value: Any) -> bytes:
    return hmac_sm3(keyring.index_key, f"{purpose}:{value}".encode())


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """A consistent pseudonym: the same input always gives the same substitute (数据替换)."""
    if value is None or value == "":
        return value
    digest = _keyed("pseudonym", value)
    if params.get("style") == "name":
        return SURNAMES[digest[0] % len(SURNAMES)] + "".join(
            GIVEN[b % len(GIVEN)] for b in digest[1:3])
    return f"{params.get('prefix', 'X')}{digest[:5].hex().upper()}"


def randomise(value: Any, params: Mapping[str, Any]) -> Any:
    """A random value of the same type and format, never the original (数据随机化)."""
    if value is None or value == "":
        return value
    rng = secrets.SystemRandom()
    if isinstance(value, bool):
        return rng.choice((True, False))
    if isinstance(value, dt.datetime | dt.date):
        shifted = value + dt.timedelta(days=rng.choice((-1, 1)) * rng.randint(1, 365))
        return shifted.isoformat()
    if isinstance(value, int | float):
        return type(value)(value * rng.uniform(0.5, 1.5)) or type(value)(1)
    text = str(value)
    keep = int(params.get("keep_prefix", 0))
    while True:
        out = text[:keep] + "".join(_random_like(c, rng) for c in text[keep:])
        if out != text or not any(c.isalnum() for c in text[keep:]):
            return out


def _random_like(char: str, rng: secrets.SystemRandom) -> str:
    if char.isdigit():
        return str(rng.randint(0, 9))
    if char.isascii() and char.isalpha():
        letter = rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        return letter if char.isupper() else letter.lower()
    return char


def offset(value: Any, params: Mapping[str, Any]) -> Any:
    """Dates moved by a fixed number of days or rounded to the year; numbers rounded down
    to a bucket (数据偏移取整)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        if params.get("round") == "year":
            return str(value.year)
        days = int(params.get("days", 0)) or 1 + _keyed("offset", "days")[0] % 60
        return (value + dt.timedelta(days=days)).isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        bucket = params.get("bucket", 10)
        return type(value)(value // bucket * bucket)
    return value


POLICIES: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "substitute": substitute, "randomise": randomise, "offset": offset,
    "nullify": lambda value, params: None,
}


@dataclass(frozen=True)
class FieldRule:
    """One field's classification, display mask and export policy."""

    level: Level
    mask: str | None = None
    export: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def export_value(self, value: Any) -> Any:
        """The value as an export for readers without `:personal` shows it."""
        if self.export is None:
            return value
        if self.export == "mask":
            return MASKS[self.mask or "text"](value)
        return POLICIES[self.export](value, self.params)


def _rule(ledger: str, name: str, spec: Any) -> FieldRule:
    spec = {"level": spec} if isinstance(spec, str) else dict(spec)
    rule = FieldRule(Level(spec.pop("level")), spec.pop("mask", None), spec.pop("export", None),
                     spec)
    where = f"{ledger}.{name}"
    if rule.level == Level.confidential and rule.mask is None:
        raise ValueError(f"classification: confidential field {where} needs a mask")
    if rule.mask is not None and rule.mask not in MASKS:
        raise ValueError(f"classification: {where} names an unknown mask {rule.mask!r}")
    if rule.export is not None and rule.export != "mask" and rule.export not in POLICIES:
        raise ValueError(f"classification: {where} names an unknown policy {rule.export!r}")
    return rule


@lru_cache(maxsize=1)
def classification() -> dict[str, dict[str, FieldRule]]:
    """Every protected ledger's fields with their rules, checked at load."""
    data = yaml.safe_load(CLASSIFICATION.read_text(encoding="utf-8"))
    return {ledger: {name: _rule(ledger, name, spec) for name, spec in fields.items()}
            for ledger, fields in data.items()}


def rules_for(ledger: str) -> dict[str, FieldRule]:
    """The rules of one ledger; a ledger missing from the classification is an error."""
    found = classification().get(ledger)
    if found is None:
        raise ValueError(f"classification: ledger {ledger!r} is not classified")
    return found


def fingerprint(value: Any) -> str:
    """A short keyed fingerprint: shows that a secret changed without showing it."""
    return blind_index(str(value))[:10]


Preparer = Callable[[Session, dict[str, Any], Any], dict[str, Any]]


@dataclass
class ProtectedLedger(Ledger[M]):
    """A ledger whose fields are classified: masks, export policies and audited reads; its
    writes are checked by `preparer` and followed by `on_write` (the package's rules)."""

    preparer: Preparer | None = None
    on_write: Callable[[Session, Any], None] | None = None

    def __post_init__(self) -> None:
        self.rules = rules_for(self.name)
        self.personal = {name: MASKS[rule.mask] for name, rule in self.rules.items()
                         if rule.level == Level.confidential and rule.mask}
        self.audit_reads = True
        super().__post_init__()

    def prepare(self, session: Session, principal: Principal, data: dict[str, Any],
                current: M | None) -> dict[str, Any]:
        """Run the package's checks before a write."""
        return self.preparer(session, data, current) if self.preparer else data

    def after_write(self, session: Session, principal: Principal, row: M) -> None:
        """Run the package's follow-up after a write."""
        if self.on_write is not None:
            self.on_write(session, row)

    def desensitise(self, row: M, data: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Apply each field's export policy unless the reader may see personal data."""
        if self._may_see_personal(principal, row):
            return data
        for name, rule in self.rules.items():
            if rule.export is not None and name in data:
                data[name] = rule.export_value(getattr(row, name))
        return data

    def audit_copy(self, row: M) -> dict[str, Any]:
        """The audit trail keeps confidential values masked; values masked only partly
        (numbers, phones, texts) carry a keyed fingerprint so that a change shows. Nullified
        ones carry none: a fingerprint of a flag or a short list would give the value away."""
        data = super().audit_copy(row)
        for name, mask in self.personal.items():
            value = getattr(row, name, None)
            if value is None or name not in data:
                continue
            if self.rules[name].mask == "nullify":
                data[name] = None
            else:
                data[name] = {"masked": mask(data[name]), "fingerprint": fingerprint(value)}
        return data


def present_audited(ledger: Ledger[Any], rows: Iterable[Any], principal: Principal,
                    writer: Session, audit: AuditSink, via: str) -> list[dict[str, Any]]:
    """Rows as the principal may see them; the unmasked ones recorded as a read (6.8.1)."""
    rows = list(rows)
    ledger.audit_read(writer, principal, audit, via,
                      [(r.community_id, r.id) for r in rows if ledger.reveals(principal, r)])
    return [ledger.present(r, principal) for r in rows]
