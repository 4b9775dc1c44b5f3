"""Electronic pass QR codes (电子通行证): signed, expiring, revocable tokens.

Format: ``SQP1.<payload>.<signature>``, both parts base64url without padding. The payload is
compact JSON with sorted keys::

    {"b": building id or null, "c": community id, "e": expires (Unix s), "h": "p" | "v",
     "i": holder id (person or visitor), "k": key id, "n": not before (Unix s),
     "s": serial}

The signature is Ed25519 over the ASCII text ``SQP1.<payload>``. Ed25519 rather than an
HMAC: an offline door controller verifies passes with the public key alone, so no door holds
a secret that could forge passes. The private key is derived from the platform's secret key
(HMAC-SM3 of a fixed label gives the 32-byte seed); the key id is the first 8 hex digits of
the SM3 digest of the public key. Expiry and revocation are checked by the door or the
platform against its clock and allow-list, not by this module.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shequ.platform.security.sm import hmac_sm3, sm3

PREFIX = "SQP1"
SEED_LABEL = b"shequ pass signing key v1"
MAX_TOKEN = 600


class PassInvalid(Exception):
    """A token that is not a pass this platform signed; `reason` is a message key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PassClaims:
    """What a pass says."""

    community_id: int
    serial: str
    holder: str
    holder_id: int
    not_before: dt.datetime
    expires: dt.datetime
    building_id: int | None = None

    def payload(self, kid: str) -> dict[str, Any]:
        """The compact JSON object that is signed."""
        return {"b": self.building_id, "c": self.community_id,
                "e": int(self.expires.timestamp()), "h": self.holder, "i": self.holder_id,
                "k": kid, "n": int(self.not_before.timestamp()), "s": self.serial}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PassSigner:
    """Signs and verifies pass tokens with an Ed25519 key derived from a secret."""

    def __init__(self, secret: str) -> None:
        seed = hmac_sm3(secret.encode("utf-8"), SEED_LABEL)
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._private.public_key()
        self.public_bytes = self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = sm3(self.public_bytes)[:4].hex()

    def sign(self, claims: PassClaims) -> str:
        """The token of a pass."""
        body = json.dumps(claims.payload(self.kid), sort_keys=True, separators=(",", ":"))
        signed = f"{PREFIX}.{_b64(body.encode('utf-8'))}"
        return f"{signed}.{_b64(self._private.sign(signed.encode('ascii')))}"

    def verify(self, token: str) -> PassClaims:
        """The claims of a token this key signed; `PassInvalid` with the reason otherwise."""
        parts = token.strip().split(".")
        if len(token) > MAX_TOKEN or len(parts) != 3 or parts[0] != PREFIX:
            raise PassInvalid("access.pass.malformed")
        try:
            signature, body = _unb64(parts[2]), json.loads(_unb64(parts[1]))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise PassInvalid("access.pass.malformed") from None
        if not isinstance(body, dict):
            raise PassInvalid("access.pass.malformed")
        if body.get("k") != self.kid:
            raise PassInvalid("access.pass.unknown_key")
        try:
            self._public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
        except InvalidSignature:
            raise PassInvalid("access.pass.forged") from None
        return _claims(body)

    def sign_text(self, text: str) -> str:
        """A base64url signature of a text (community links)."""
        return _b64(self._private.sign(text.encode("utf-8")))

    def check_text(self, text: str, signature: str) -> bool:
        """Whether `signature` was made by `sign_text` for `text`."""
        try:
            self._public.verify(_unb64(signature), text.encode("utf-8"))
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True

    def public_key(self) -> dict[str, str]:
        """What doors need to verify passes offline."""
        return {"alg": "Ed25519", "kid": self.kid, "format": PREFIX,
                "public_key": _b64(self.public_bytes)}


def _claims(body: dict[str, Any]) -> PassClaims:
    try:
        return PassClaims(
            community_id=int(body["c"]), serial=str(body["s"]), holder=str(body["h"]),
            holder_id=int(body["i"]),
            not_before=dt.datetime.fromtimestamp(int(body["n"]), dt.UTC),
            expires=dt.datetime.fromtimestamp(int(body["e"]), dt.UTC),
            building_id=None if body.get("b") is None else int(body["b"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise PassInvalid("access.pass.malformed") from None


def verify_offline(public_key: bytes, token: str) -> bool:
    """Whether a token carries a valid signature under a public key (what a door does)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            _unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
