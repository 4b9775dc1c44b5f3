"""Column types for personal data: SM4-encrypted at rest, decrypted on load."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, TypeDecorator
from sqlalchemy.engine import Dialect

from shequ.platform.security.sm import keyring, sm4_decrypt, sm4_encrypt


class EncryptedText(TypeDecorator[str]):
    """Text stored as SM4-GCM ciphertext; the database file never holds the plain value."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        """Encrypt before storing."""
        if value is None:
            return None
        return sm4_encrypt(keyring.field_key, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Decrypt after loading."""
        if value is None:
            return None
        return sm4_decrypt(keyring.field_key, value)


BlindIndex = String(64)
"""Column type of an HMAC-SM3 blind index (hex digest)."""


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number as 138****1234."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(number: str | None) -> str | None:
    """Mask an identity number, keeping the first 6 and the last 4 characters."""
    if not number:
        return number
    if len(number) <= 10:
        return number[:2] + "*" * (len(number) - 2)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
