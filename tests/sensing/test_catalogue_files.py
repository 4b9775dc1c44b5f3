"""Adding a device type is adding a file; a broken file is refused with file and path."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shequ.sensing.catalogue import TYPES_DIR, CatalogueError, load_catalogue
from shequ.sensing.readings import Kind, keep_valid, make_message, validate
from shequ.sensing.topics import TopicInfo
from tests.sensing.noise_type import NOISE_TYPE, write_type


def test_a_new_type_is_a_data_file(tmp_path: Path, topic: Callable[..., TopicInfo],
                                   now: Any) -> None:
    write_type(tmp_path, NOISE_TYPE)
    catalogue = load_catalogue(extra_dirs=[tmp_path])
    probe = catalogue.get("noise_probe")
    assert probe.source == "noise_probe.yaml"
    assert "camera" in catalogue  # built-ins are still there
    assert catalogue.fiware["NoiseLevelObserved"].device_type == "noise_probe"
    message = make_message(topic(), Kind.TELEMETRY, {"noise": 62.5, "mode": "dusk"}, now)
    rejections = validate(message, probe, now)
    assert [r.code for r in rejections] == ["sensing.dead_letter.not_allowed"]
    kept = keep_valid(message, rejections)
    assert kept is not None and kept.values == {"noise": 62.5}


def test_built_ins_do_not_see_deployment_types() -> None:
    assert "noise_probe" not in load_catalogue()


def _broken(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(NOISE_TYPE)
    mutate(data)
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        parts = path.split("/")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return mutate


_DELETE = object()
DUPLICATE_METRIC = {"key": "noise", "name": {"zh": "噪声2", "en": "Noise 2"}, "kind": "number",
                    "unit": "dB(A)"}


@pytest.mark.parametrize(
    ("mutate", "code", "where"),
    [
        (_set("metrics/0/unit", "furlong"), "unknown_unit", "metrics[0].unit"),
        (_set("metrics/1", DUPLICATE_METRIC), "duplicate", "metrics[1].key"),
        (_set("metrics/0/range", [100, 10]), "bad_range", "metrics[0].range"),
        (_set("metrics/0/kind", "float"), "bad_kind", "metrics[0].kind"),
        (_set("metrics/0/name", {"zh": "噪声"}), "missing_name", "metrics[0].name"),
        (_set("name/en", ""), "missing_name", "name"),
        (_set("category/row", "T1.teleport"), "unknown_row", "category.row"),
        (_set("category/group", "network_storage"), "row_group", "category.row"),
        (_set("category/group", "gadgets"), "unknown_group", "category.group"),
        (_set("heartbeat_timout_s", 60), "unknown_field", "heartbeat_timout_s"),
        (_set("heartbeat_timeout_s", _DELETE), "missing", "(top)"),
        (_set("heartbeat_timeout_s", -5), "wrong_type", "heartbeat_timeout_s"),
        (_set("id", "other_probe"), "id_mismatch", "id"),
        (_set("metrics/0/key", "Noise Level"), "bad_key", "metrics[0].key"),
        (_set("metrics/1/values", []), "bad_enum", "metrics[1].values"),
        (_set("metrics/1/unit", "%"), "unit_not_numeric", "metrics[1].unit"),
        (_set("metrics/0/unit", _DELETE), "missing", "metrics[0]"),
        (_set("metrics/0/alarm_hint/alarm_above", 200), "hint_out_of_range",
         "metrics[0].alarm_hint.alarm_above"),
        (_set("metrics/0/alarm_hint/warn_above", 90), "bad_range", "metrics[0].alarm_hint"),
        (_set("events/0/severity", "apocalyptic"), "bad_value", "events[0].severity"),
        (_set("events/0/fields/0/default", 500), "bad_value", "events[0].fields[0].default"),
        (_set("commands/0/sets", {"volume": 3}), "unknown_reference", "commands[0].sets.volume"),
        (_set("commands/0/sets", {"sampling": "yes"}), "bad_value", "commands[0].sets.sampling"),
        (_set("commands/0/ack_timeout_s", 0), "not_positive", "commands[0].ack_timeout_s"),
        (_set("indicators/0/comparator", "approx"), "bad_value", "indicators[0].comparator"),
        (_set("indicators/0/requirement", "see manual"), "bad_requirement",
         "indicators[0].requirement"),
        (_set("table2", ["T2.iot.env.weather"]), "unknown_table2", "table2[0]"),
        (_set("fiware/NoiseLevelObserved/attributes/LAeq", "loudness"), "unknown_reference",
         "fiware.NoiseLevelObserved.attributes.LAeq.metric"),
        (_set("fiware/NoiseLevelObserved/attributes/LAeq", {"metric": "mode", "scale": 2}),
         "not_for_kind", "fiware.NoiseLevelObserved.attributes.LAeq"),
    ],
)
def test_broken_type_file_is_refused_with_file_and_path(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], code: str, where: str
) -> None:
    write_type(tmp_path, _broken(mutate), "noise_probe")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    error = info.value
    assert error.code == f"sensing.catalogue.{code}"
    assert (error.file, error.path) == ("noise_probe.yaml", where)
    assert str(error).startswith(f"noise_probe.yaml: {where}: ")
    assert "noise_probe.yaml" in error.user_message("zh-CN")
    assert error.status == 422


def test_no_row_and_no_table2_is_refused(tmp_path: Path) -> None:
    data = _broken(_set("category/row", None))
    del data["table2"]
    write_type(tmp_path, data)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert info.value.code == "sensing.catalogue.no_row"


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "noise_probe.yaml").write_text("id: noise_probe\nmetrics: [\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert info.value.code == "sensing.catalogue.yaml_syntax"
    assert str(info.value).startswith("noise_probe.yaml:")


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    text = (TYPES_DIR / "camera.yaml").read_text(encoding="utf-8")
    doubled = text.replace("heartbeat_timeout_s: 120", "heartbeat_timeout_s: 120\n"
                           "heartbeat_timeout_s: 60")
    assert doubled != text
    (tmp_path / "camera2.yaml").write_text(doubled.replace("id: camera", "id: camera2"),
                                           encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert info.value.code == "sensing.catalogue.yaml_syntax"
    assert "heartbeat_timeout_s" in str(info.value)


def test_a_deployment_cannot_silently_replace_a_built_in(tmp_path: Path) -> None:
    shutil.copy(TYPES_DIR / "camera.yaml", tmp_path / "camera.yaml")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert info.value.code == "sensing.catalogue.duplicate_type"


def test_two_types_cannot_claim_one_fiware_entity_type(tmp_path: Path) -> None:
    data = copy.deepcopy(NOISE_TYPE)
    data["fiware"] = {"AirQualityObserved": {"attributes": {"noise": "noise"}}}
    write_type(tmp_path, data)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert info.value.code == "sensing.catalogue.duplicate_type"
    assert info.value.path == "fiware.AirQualityObserved"


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path / "nowhere"])
    assert info.value.code == "sensing.catalogue.no_dir"


def test_a_parameter_wider_than_its_state_key_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(NOISE_TYPE)
    data["state"].append({"key": "gain", "name": {"zh": "增益", "en": "Gain"}, "kind": "integer",
                          "unit": "dB", "range": [0, 10], "writable": True})
    data["commands"].append({
        "key": "set_gain", "name": {"zh": "设置增益", "en": "Set gain"}, "ack_timeout_s": 5,
        "params": [{"key": "gain", "name": {"zh": "增益", "en": "Gain"}, "kind": "integer",
                    "unit": "dB", "range": [0, 20]}],
        "sets": {"gain": {"param": "gain"}},
    })
    write_type(tmp_path, data)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra_dirs=[tmp_path])
    assert (info.value.code, info.value.path) == ("sensing.catalogue.incompatible",
                                                  "commands[1].sets.gain")


def test_timeouts_are_read_as_given(tmp_path: Path) -> None:
    write_type(tmp_path, NOISE_TYPE)
    probe = load_catalogue(extra_dirs=[tmp_path]).get("noise_probe")
    assert timedelta(seconds=probe.command_index["start"].ack_timeout_s) == timedelta(seconds=5)
