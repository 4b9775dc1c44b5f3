"""A small file store: photos, documents and snapshots behind one interface.

`FileStore.put()` keeps bytes under a new opaque key, `open()` reads them back and
`delete()` removes them. `LocalFileStore` keeps files on local disk; other backends (object
storage) implement the same three methods. Uploads are checked before they are stored:
the content type is sniffed from the magic bytes (never trusted from the client), must be
one of the allowed types and match the declared type, and the size is capped.

The local directory is `SHEQU_FILES_DIR` (default `var/files`) and the size cap
`SHEQU_FILES_MAX_BYTES` (default 10 MiB).
"""

from __future__ import annotations

import abc
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from shequ.kit.db import utcnow
from shequ.kit.errors import NotFound, PayloadTooLarge, ShequError, ValidationFailed

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
IMAGES = frozenset({JPEG, PNG})
DOCUMENTS = frozenset({JPEG, PNG, PDF})
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_MAGIC = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG), (b"%PDF-", PDF))
_EXTENSIONS = {JPEG: ".jpg", PNG: ".png", PDF: ".pdf"}
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG}
_KEY = re.compile(r"\d{4}/\d{2}/[0-9a-f]{32}(\.[a-z]{3})?\Z")



class FileTypeNotAllowed(ShequError):
    """The content is not one of the allowed types, or not what it claims to be (415)."""

    status = 415
    code = "files.type_not_allowed"


class FileTooLarge(PayloadTooLarge):
    """The file is larger than the store accepts (413)."""

    code = "files.too_large"


class FileEmpty(ValidationFailed):
    """The file has no content (422)."""

    code = "files.empty"


@dataclass(frozen=True)
class StoredFile:
    """What a store knows of a kept file."""

    key: str
    name: str
    content_type: str
    size: int


def sniff(data: bytes) -> str | None:
    """The content type told by the magic bytes (JPEG, PNG, PDF), or None."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def check_upload(data: bytes, declared: str | None, allowed: Iterable[str],
                 max_bytes: int) -> str:
    """The sniffed content type of an upload; 413, 415 or 422 when it may not be stored."""
    if not data:
        raise FileEmpty()
    if len(data) > max_bytes:
        raise FileTooLarge(limit=max_bytes)
    permitted = sorted(allowed)
    found = sniff(data)
    if found is None or found not in permitted:
        raise FileTypeNotAllowed(found=found or declared or "?", allowed=", ".join(permitted),
                                 extra={"allowed": permitted})
    claimed = (declared or "").split(";", 1)[0].strip().lower()
    claimed = _ALIASES.get(claimed, claimed)
    if claimed not in ("", "application/octet-stream", found):
        raise FileTypeNotAllowed(code="files.type_mismatch", found=found, declared=claimed[:60])
    return found


def safe_name(name: str | None, content_type: str) -> str:
    """A display name without path parts or control characters, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()[:200]
    return cleaned or f"file{_EXTENSIONS.get(content_type, '')}"


class FileStore(abc.ABC):
    """Where files live; keys are opaque to callers."""

    max_bytes: int = DEFAULT_MAX_BYTES

    def store(self, data: bytes, name: str | None, declared: str | None,
              allowed: Iterable[str] = DOCUMENTS) -> StoredFile:
        """Check an upload and keep it: the checked, stored file."""
        kind = check_upload(data, declared, allowed, self.max_bytes)
        return StoredFile(self.put(data, safe_name(name, kind), kind), safe_name(name, kind),
                          kind, len(data))

    @abc.abstractmethod
    def put(self, data: bytes, name: str, content_type: str) -> str:
        """Keep bytes; return their new key."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A binary stream of a kept file (404 when it is gone)."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove a kept file (nothing happens when it is gone)."""


class LocalFileStore(FileStore):
    """Files on local disk under `root`, as `YYYY/MM/<uuid><ext>`, written atomically."""

    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise NotFound(code="files.not_found")
        return self.root / key

    def put(self, data: bytes, name: str, content_type: str) -> str:
        """Write the bytes to a new file (temporary name, then renamed into place)."""
        now = utcnow()
        key = f"{now:%Y}/{now:%m}/{uuid.uuid4().hex}{_EXTENSIONS.get(content_type, '')}"
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)
        return key

    def open(self, key: str) -> BinaryIO:
        """Open a kept file for reading."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(code="files.not_found") from None

    def delete(self, key: str) -> None:
        """Remove a kept file."""
        self._path(key).unlink(missing_ok=True)


@lru_cache(maxsize=1)
def default_store() -> FileStore:
    """The process's file store: local disk at `SHEQU_FILES_DIR` (default `var/files`)."""
    from shequ.config import get_settings

    settings = get_settings()
    return LocalFileStore(settings.files_dir, settings.files_max_bytes)
