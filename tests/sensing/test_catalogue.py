"""Device types as data: the built-in catalogue, its coverage of the guide, and compliance."""

from __future__ import annotations

import pytest

from shequ.kit import i18n
from shequ.kit.errors import NotFound
from shequ.sensing.catalogue import (
    GROUPS,
    ROW_GROUP,
    TABLE2_IOT,
    Catalogue,
    DeviceType,
    compliance,
    load_catalogue,
)

# The device kinds the guide asks for (issue text), each mapped to built-in type ids.
GUIDE_TYPES = [
    "water_quality_monitor", "water_flow_meter", "water_pressure_sensor", "water_leak_detector",
    "drainage_level_sensor", "water_meter", "power_monitor", "electricity_meter",
    "gas_pressure_monitor", "gas_leak_detector", "gas_shutoff_valve", "streetlight_controller",
    "smoke_detector", "heat_detector", "fire_facility_monitor", "waste_bin_sensor",
    "pa_speaker", "info_screen", "gas_meter", "heat_meter", "intrusion_detector", "camera",
    "access_controller", "barrier_gate", "patrol_point", "video_intercom", "environment_station",
    "lift_monitor", "network_device",
]

# 5.3.6.c / T1.video.f: the ten AI detections.
VIDEO_AI_EVENTS = [
    "high_altitude_throwing", "garbage_sorting_violation", "face_detected", "crowding", "fall",
    "loitering", "watchlist_hit", "restricted_area_intrusion", "ebike_in_lift",
    "illegal_charging",
]


def test_every_built_in_type_loads_and_is_grouped(catalogue: Catalogue) -> None:
    assert len(catalogue) >= 30
    for device_type in catalogue:
        assert device_type.group in GROUPS
        assert device_type.row is None or ROW_GROUP[device_type.row] == device_type.group
        assert device_type.name_zh and device_type.name_en
        assert device_type.heartbeat_timeout_s > 0
        assert device_type.metrics or device_type.events or device_type.state
        assert set(device_type.table2) <= TABLE2_IOT


@pytest.mark.parametrize("type_id", GUIDE_TYPES)
def test_guide_device_kinds_are_covered(catalogue: Catalogue, type_id: str) -> None:
    assert type_id in catalogue


def test_every_table1_device_row_has_a_type(catalogue: Catalogue) -> None:
    served = {device_type.row for device_type in catalogue}
    # Leased cloud resources (T1.cloud) are a service, not a device.
    assert set(ROW_GROUP) - served == {"T1.cloud"}


def test_types_outside_table1_name_their_table2_rows(catalogue: Catalogue) -> None:
    lift = catalogue.get("lift_monitor")
    assert lift.row is None
    assert "T2.iot.building.equipment" in lift.table2


def test_table2_environment_rows_are_served(catalogue: Catalogue) -> None:
    served = {row for device_type in catalogue for row in device_type.table2}
    for row in ("T2.iot.env.pm25", "T2.iot.env.pm10", "T2.iot.env.temperature",
                "T2.iot.env.humidity", "T2.iot.env.pressure", "T2.iot.env.rain"):
        assert row in served


def test_energy_monitoring_covers_four_kinds(catalogue: Catalogue) -> None:
    tags = {tag for device_type in catalogue.for_row("T1.energy") for tag in device_type.tags}
    assert {"energy.electricity", "energy.water", "energy.gas", "energy.heat_cold"} <= tags


def test_camera_declares_the_ten_ai_events_with_snapshots(catalogue: Catalogue) -> None:
    camera = catalogue.get("camera")
    for key in VIDEO_AI_EVENTS:
        event = camera.event_index[key]
        assert "snapshot" in event.required_fields
        assert "clip" in event.field_index


def test_streetlight_commands_change_the_shadow(catalogue: Catalogue) -> None:
    lamp = catalogue.get("streetlight_controller")
    assert lamp.command_index["switch_on"].state_keys == ("on",)
    dim = lamp.command_index["dim"]
    assert dim.changes_state and dim.state_keys == ("dim_level",)
    assert dim.param_index["level"].required
    assert dim.ack_timeout_s <= 5  # T1.streetlight.q1
    assert not catalogue.get("camera").command_index["capture"].changes_state


def test_pa_play_has_priority_and_zones(catalogue: Catalogue) -> None:
    play = catalogue.get("pa_speaker").command_index["play"]
    assert "emergency" in play.param_index["priority"].values
    assert play.param_index["zones"].kind == "list"
    assert play.ack_timeout_s <= 10  # 5.3.1.d


def test_fire_sensors_declare_guide_rates(catalogue: Catalogue) -> None:
    for type_id in ("smoke_detector", "heat_detector", "fire_facility_monitor"):
        device_type = catalogue.get(type_id)
        assert device_type.sample_interval_max_s == 60
        assert device_type.transmit_interval_max_s == 1800


def test_lookup_of_unknown_type_is_not_found(catalogue: Catalogue) -> None:
    assert catalogue.find("teleporter") is None
    with pytest.raises(NotFound) as info:
        catalogue.get("teleporter")
    assert info.value.code == "sensing.device_type.unknown"
    assert "teleporter" in info.value.user_message("en")


def test_groups_partition_the_catalogue(catalogue: Catalogue) -> None:
    total = sum(len(catalogue.in_group(group)) for group in GROUPS)
    assert total == len(catalogue)
    assert {t.id for t in catalogue.in_group("network_storage")} >= {"network_device",
                                                                       "storage_node"}


def test_loading_twice_gives_equal_types() -> None:
    first, second = load_catalogue(), load_catalogue()
    assert first.types == second.types


# --- compliance with Table 1 indicators -----------------------------------------------------


def _shortfalls(device_type: DeviceType, **properties: object) -> dict[str, str]:
    return {s.indicator: s.reason for s in compliance(device_type, properties)}


def test_camera_below_1080p_falls_short(catalogue: Catalogue) -> None:
    camera = catalogue.get("camera")
    found = compliance(camera, {"resolution_lines": 720, "digital": True, "pre_alarm_clip_s": 30})
    assert [(s.indicator, s.reason) for s in found] == [("resolution_lines", "below")]
    assert found[0].requirement == "T1.video.q1"
    assert "720" in found[0].message("en") and "1080" in found[0].message("en")
    assert "720" in found[0].message("zh-CN")
    assert _shortfalls(camera, resolution_lines=1080, digital=True, pre_alarm_clip_s=45) == {}


def test_analogue_camera_and_short_preroll_fall_short(catalogue: Catalogue) -> None:
    camera = catalogue.get("camera")
    found = _shortfalls(camera, resolution_lines=2160, digital=False, pre_alarm_clip_s=10)
    assert found == {"digital": "below", "pre_alarm_clip_s": "below"}


def test_missing_and_unusable_properties_are_reported(catalogue: Catalogue) -> None:
    camera = catalogue.get("camera")
    found = _shortfalls(camera, resolution_lines="1080P")
    assert found == {"resolution_lines": "invalid", "digital": "missing",
                     "pre_alarm_clip_s": "missing"}


@pytest.mark.parametrize(("error", "short"), [(2.0, True), (-1.5, True), (1.0, False),
                                               (-0.4, False)])
def test_voltage_accuracy_is_plus_minus_one_percent(
    catalogue: Catalogue, error: float, short: bool
) -> None:
    found = _shortfalls(catalogue.get("power_monitor"), voltage_accuracy_pct=error)
    assert ("voltage_accuracy_pct" in found) is short


@pytest.mark.parametrize(("level", "short"), [(65, True), (70, True), (70.5, False)])
def test_gas_alarm_must_be_louder_than_70_dba(
    catalogue: Catalogue, level: float, short: bool
) -> None:
    found = _shortfalls(catalogue.get("gas_leak_detector"), alarm_sound_level_dba=level)
    assert ("alarm_sound_level_dba" in found) is short


@pytest.mark.parametrize(
    ("type_id", "properties", "short"),
    [
        ("streetlight_controller", {"mtbf_h": 29_999, "response_s": 2}, ["mtbf_h"]),
        ("streetlight_controller", {"mtbf_h": 30_000, "response_s": 6}, ["response_s"]),
        ("pa_speaker", {"snr_db": 10, "emergency_start_s": 8}, ["snr_db"]),
        ("pa_speaker", {"snr_db": 12, "emergency_start_s": 11}, ["emergency_start_s"]),
        ("info_screen", {"width_px": 320, "height_px": 192, "publish_latency_s": 1},
         ["height_px", "width_px"]),
        ("info_screen", {"width_px": 384, "height_px": 224, "publish_latency_s": 3},
         ["publish_latency_s"]),
        ("patrol_collector", {"storage_records": 3999, "read_response_s": 0.5},
         ["storage_records"]),
        ("patrol_collector", {"storage_records": 4000, "read_response_s": 1.2},
         ["read_response_s"]),
        ("barrier_gate", {"plate_recognition_rate_pct": 98.9, "plate_response_s": 0.8,
                          "video_retention_days": 29},
         ["plate_recognition_rate_pct", "video_retention_days"]),
        ("network_device", {"access_bandwidth_mbps": 50}, ["access_bandwidth_mbps"]),
        ("storage_node", {"retention_days": 89}, ["retention_days"]),
        ("sound_light_alarm", {"alarm_modes": 0}, ["alarm_modes"]),
    ],
)
def test_table1_indicators(
    catalogue: Catalogue, type_id: str, properties: dict[str, object], short: list[str]
) -> None:
    found = _shortfalls(catalogue.get(type_id), **properties)
    assert sorted(found) == short
    assert set(found.values()) == {"below"}


def test_fire_sampling_and_transmission_rates_are_checked(catalogue: Catalogue) -> None:
    smoke = catalogue.get("smoke_detector")
    good = {"alarm_latency_s": 3, "sample_interval_s": 60, "transmit_interval_s": 1800}
    assert _shortfalls(smoke, **good) == {}
    slow = {**good, "sample_interval_s": 120, "transmit_interval_s": 1860}
    found = compliance(smoke, slow)
    assert {s.indicator for s in found} == {"sample_interval_s", "transmit_interval_s"}
    assert all(s.requirement and "T1.fire.q1" in s.requirement for s in found)


def test_shortfall_messages_exist_in_both_languages() -> None:
    for reason in ("below", "missing", "invalid"):
        assert i18n.has(f"sensing.compliance.{reason}")
