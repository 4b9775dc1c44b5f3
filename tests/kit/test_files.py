"""The file store: content types sniffed from magic bytes, size limits, safe names, and the
local-disk store's put/open/delete with keys that cannot escape its directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequ.kit.errors import NotFound
from shequ.kit.files import (
    IMAGES,
    PDF,
    PNG,
    FileEmpty,
    FileTooLarge,
    FileTypeNotAllowed,
    LocalFileStore,
    check_upload,
    safe_name,
    sniff,
)

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(32)
JPEG_BYTES = b"\xff\xd8\xff\xdb" + bytes(32)
PDF_BYTES = b"%PDF-1.4\n" + bytes(32)


@pytest.mark.parametrize(("data", "kind"), [
    (PNG_BYTES, "image/png"), (JPEG_BYTES, "image/jpeg"), (PDF_BYTES, "application/pdf"),
    (b"GIF89a" + bytes(10), None), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"", None),
])
def test_sniffing_reads_magic_bytes(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


def test_uploads_are_checked_before_they_are_kept() -> None:
    assert check_upload(PNG_BYTES, "image/png", IMAGES, 1000) == PNG
    assert check_upload(JPEG_BYTES, "image/jpg", IMAGES, 1000) == "image/jpeg"
    assert check_upload(PDF_BYTES, None, {PDF}, 1000) == PDF
    assert check_upload(PNG_BYTES, "application/octet-stream", IMAGES, 1000) == PNG
    with pytest.raises(FileTypeNotAllowed) as wrong:
        check_upload(PDF_BYTES, "application/pdf", IMAGES, 1000)
    assert wrong.value.code == "files.type_not_allowed" and wrong.value.status == 415
    with pytest.raises(FileTypeNotAllowed) as lying:
        check_upload(PNG_BYTES, "image/jpeg", IMAGES, 1000)
    assert lying.value.code == "files.type_mismatch"
    with pytest.raises(FileTooLarge) as large:
        check_upload(PNG_BYTES, "image/png", IMAGES, 10)
    assert large.value.status == 413 and "10" in large.value.user_message("en")
    with pytest.raises(FileEmpty):
        check_upload(b"", "image/png", IMAGES, 10)


def test_names_lose_paths_and_control_characters() -> None:
    assert safe_name("../../etc/passwd", PNG) == "passwd"
    assert safe_name("C:\\Users\\照片\\现场.png", PNG) == "现场.png"
    assert safe_name("a\x00b\nc.pdf", PDF) == "abc.pdf"
    assert safe_name(None, PNG) == "file.png" and safe_name("   ", PDF) == "file.pdf"
    assert len(safe_name("x" * 500, PDF)) == 200


def test_the_local_store_keeps_reads_and_deletes(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, max_bytes=1000)
    kept = store.store(PNG_BYTES, "现场.png", "image/png")
    assert (kept.name, kept.content_type, kept.size) == ("现场.png", PNG, len(PNG_BYTES))
    assert kept.key.endswith(".png") and (tmp_path / kept.key).is_file()
    with store.open(kept.key) as stream:
        assert stream.read() == PNG_BYTES
    store.delete(kept.key)
    store.delete(kept.key)  # deleting twice is fine
    with pytest.raises(NotFound):
        store.open(kept.key)
    for bad in ("../../etc/passwd", "/etc/passwd", "2026/01/../../x", ""):
        with pytest.raises(NotFound):
            store.open(bad)
    assert list(tmp_path.rglob("*.part")) == []
