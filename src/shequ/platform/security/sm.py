"""SM3 hashing, HMAC-SM3 and SM4-GCM encryption (GB/T 32905, GB/T 32907) via OpenSSL."""

from __future__ import annotations

import base64
import hmac as std_hmac
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_PREFIX = "sm4gcm1:"
_NONCE = 12
_TAG = 16


def sm3(data: bytes) -> bytes:
    """The SM3 digest of `data`."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC with SM3 as the hash."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two texts."""
    return std_hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class DecryptionError(Exception):
    """A ciphertext was altered or encrypted under another key."""


def sm4_encrypt(key: bytes, plaintext: str) -> str:
    """Encrypt text with SM4-GCM under a fresh nonce; returns a tagged base64 string."""
    nonce = os.urandom(_NONCE)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    body = encryptor.update(plaintext.encode("utf-8")) + encryptor.finalize()
    return _PREFIX + base64.b64encode(nonce + body + encryptor.tag).decode("ascii")


def sm4_decrypt(key: bytes, token: str) -> str:
    """Decrypt a value produced by `sm4_encrypt`."""
    if not token.startswith(_PREFIX):
        raise DecryptionError("not an SM4 ciphertext")
    raw = base64.b64decode(token[len(_PREFIX) :])
    nonce, body, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    try:
        return (decryptor.update(body) + decryptor.finalize()).decode("utf-8")
    except InvalidTag as exc:
        raise DecryptionError("ciphertext failed authentication") from exc


class KeyRing:
    """The process's data keys: SM4 field key and the derived blind-index key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._field_key: bytes | None = None
        self._index_key: bytes | None = None

    def configure(self, data_key_hex: str) -> None:
        """Install the SM4 data key (32 hex characters)."""
        key = bytes.fromhex(data_key_hex)
        if len(key) != 16:
            raise ValueError("the SM4 data key must be 16 bytes")
        with self._lock:
            self._field_key = key
            self._index_key = hmac_sm3(key, b"shequ blind index v1")

    def _ensure(self) -> None:
        if self._field_key is None:
            from shequ.config import get_settings

            self.configure(get_settings().data_key.get_secret_value())

    @property
    def field_key(self) -> bytes:
        """The SM4 key for encrypted columns."""
        self._ensure()
        assert self._field_key is not None
        return self._field_key

    @property
    def index_key(self) -> bytes:
        """The HMAC-SM3 key for blind indexes."""
        self._ensure()
        assert self._index_key is not None
        return self._index_key


keyring = KeyRing()


def blind_index(value: str) -> str:
    """A keyed SM3 digest of a normalised value, for exact-match search of encrypted data."""
    normalised = "".join(value.split()).upper()
    return hmac_sm3(keyring.index_key, normalised.encode("utf-8")).hex()
