"""The QR pass token: Ed25519-signed, verifiable offline with the public key alone, and
every kind of tampering refused with its reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from shequ.access.passes import PassClaims, PassInvalid, PassSigner, verify_offline

NOW = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
CLAIMS = PassClaims(community_id=7, serial="A1B2C3D4E5F60718", holder="p", holder_id=42,
                    not_before=NOW, expires=NOW + dt.timedelta(days=30), building_id=3)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_signed_pass_verifies_and_says_what_it_was_given() -> None:
    signer = PassSigner("secret-one")
    token = signer.sign(CLAIMS)
    assert token.startswith("SQP1.") and token.count(".") == 2
    assert signer.verify(token) == CLAIMS
    assert signer.sign(CLAIMS) == token  # deterministic: the pass can be shown again
    key = base64.urlsafe_b64decode(signer.public_key()["public_key"] + "=")
    assert verify_offline(key, token)
    assert signer.public_key()["alg"] == "Ed25519"


def test_a_changed_payload_is_forged() -> None:
    signer = PassSigner("secret-one")
    prefix, payload, signature = signer.sign(CLAIMS).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["e"] += 86400 * 365
    forged = f"{prefix}.{_b64(json.dumps(body, separators=(',', ':')).encode())}.{signature}"
    with pytest.raises(PassInvalid) as caught:
        signer.verify(forged)
    assert caught.value.reason == "access.pass.forged"
    key = base64.urlsafe_b64decode(signer.public_key()["public_key"] + "=")
    assert not verify_offline(key, forged)


def test_a_pass_from_another_key_is_unknown() -> None:
    other = PassSigner("secret-two").sign(CLAIMS)
    with pytest.raises(PassInvalid) as caught:
        PassSigner("secret-one").verify(other)
    assert caught.value.reason == "access.pass.unknown_key"


@pytest.mark.parametrize("token", ["", "hello", "SQP1.a.b", "SQP2.e30.AA", "SQP1.!!!.AA",
                                   "SQP1." + _b64(b"[1,2]") + ".AA", "x" * 5000])
def test_garbage_is_malformed(token: str) -> None:
    with pytest.raises(PassInvalid) as caught:
        PassSigner("secret-one").verify(token)
    assert caught.value.reason == "access.pass.malformed"


def test_signed_text_links() -> None:
    signer = PassSigner("secret-one")
    link = signer.sign_text("shequ community link:DEMO")
    assert signer.check_text("shequ community link:DEMO", link)
    assert not signer.check_text("shequ community link:OTHER", link)
    assert not signer.check_text("shequ community link:DEMO", "not-base64!")
