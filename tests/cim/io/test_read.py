"""read_scene: dispatch, format detection, errors and shared helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shequ.cim.io.read import CimFormatError, detect_kind, read_scene
from shequ.cim.io.scene import ObjectKind
from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import t

FEATURE = {"type": "Feature", "id": "x", "properties": {"floors": 2},
           "geometry": {"type": "Polygon", "coordinates": [[[114.3, 30.6], [114.3005, 30.6],
                                                            [114.3005, 30.6005], [114.3, 30.6]]]}}
CITYJSON = {"type": "CityJSON", "version": "2.0", "CityObjects": {}, "vertices": []}


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("a.city.json", b"{}", "cityjson"),
        ("a.city.jsonl", b"{}", "cityjson"),
        ("a.gml", b"", "citygml"),
        ("A.IFC", b"", "ifc"),
        ("a.geojson", b"", "geojson"),
        ("upload.json", json.dumps(CITYJSON).encode(), "cityjson"),
        ("upload.json", json.dumps(FEATURE).encode(), "geojson"),
        ("", b"\xef\xbb\xbf<?xml version='1.0'?><CityModel/>", "citygml"),
        ("", b"ISO-10303-21;\nHEADER;", "ifc"),
    ],
)
def test_detect_kind(name: str, head: bytes, kind: str) -> None:
    assert detect_kind(head, name) == kind


def test_auto_reads_by_content() -> None:
    scene = read_scene("auto", json.dumps(FEATURE).encode(), name="upload.json")
    assert scene.of_kind(ObjectKind.building)[0].id == "x"
    assert scene.metadata["format"] == "geojson" and scene.metadata["file_name"] == "upload.json"


def test_unknown_kind_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_scene("shapefile", b"")
    assert caught.value.code == "cim.io.unknown_kind"


def test_undetectable_content_is_a_format_error() -> None:
    with pytest.raises(CimFormatError):
        read_scene("auto", b"\x00\x01binary")


def test_format_error_is_a_translated_validation_error() -> None:
    with pytest.raises(CimFormatError) as caught:
        read_scene("cityjson", b'{"type": "CityJSON",\n\n "CityObjects": [')
    error = caught.value
    assert isinstance(error, ValidationFailed) and error.status == 422
    assert error.code == "cim.io.bad_file"
    assert error.params["location"].startswith("line 3")
    assert error.errors == [{"location": error.params["location"],
                             "message": error.params["reason"]}]
    assert error.params["location"] in error.user_message("en")
    assert "文件无法读取" in error.user_message("zh-CN")


def test_not_utf8_is_a_format_error() -> None:
    raw = json.dumps({**FEATURE, "properties": {"名称": "三号楼"}}, ensure_ascii=False)
    with pytest.raises(CimFormatError) as caught:
        read_scene("geojson", raw.encode("gb18030"))
    assert caught.value.params["location"].startswith("byte ")


def test_messages_exist_in_both_languages() -> None:
    root = Path(__file__).resolve().parents[3] / "src" / "shequ" / "cim" / "io"
    import yaml

    catalogue = yaml.safe_load((root / "messages.yaml").read_text(encoding="utf-8"))
    used: set[str] = set()
    for module in ("crs", "cityjson", "citygml", "ifc", "geojson", "read"):
        source = root / f"{module}.py"
        text = source.read_text(encoding="utf-8")
        used |= {part.split('"')[0] for part in text.split('"cim.io.')[1:]}
    for key in used:
        assert f"cim.io.{key}" in catalogue, key
        assert t(f"cim.io.{key}", "en") != f"cim.io.{key}"
