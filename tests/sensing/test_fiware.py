"""The FIWARE adapter on the real Smart Data Models examples (NGSI-v2 and NGSI-LD)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from shequ.sensing.adapters import decode_payload, get_decoder
from shequ.sensing.adapters.fiware import FiwareDecoder
from shequ.sensing.catalogue import Catalogue, load_catalogue
from shequ.sensing.readings import DecodeError, Limits, Message, screen
from shequ.sensing.topics import TopicInfo
from tests.sensing.noise_type import NOISE_TYPE, write_type

Topic = Callable[..., TopicInfo]
FORMS = ["example.json", "example-normalized.json", "example-normalized.jsonld"]
LENIENT = Limits(max_past=datetime(2024, 5, 1, tzinfo=UTC) - datetime(2010, 1, 1, tzinfo=UTC))


def _decode(fiware_dir: Path, entity: str, form: str, topic: Topic,
            now: datetime) -> list[Message]:
    payload = (fiware_dir / entity / form).read_bytes()
    decoded = decode_payload("fiware", topic(), payload, now, max_bytes=1 << 20)
    assert decoded.rejections == []
    return decoded.messages


@pytest.mark.parametrize("form", FORMS)
def test_air_quality_observed(fiware_dir: Path, topic: Topic, now: datetime,
                              catalogue: Catalogue, form: str) -> None:
    [message] = _decode(fiware_dir, "AirQualityObserved", form, topic, now)
    assert message.ts == datetime(2016, 3, 15, 11, tzinfo=UTC)  # naive → UTC
    assert message.values["temperature"] == 12.2
    assert message.values["humidity"] == 54.0  # ratio 0.54 scaled to %RH
    assert message.origin and "Madrid-AmbientObserved-28079004" in message.origin
    assert (message.source, message.derived_id, message.ts_assumed) == ("fiware", True, False)
    kept, rejections = screen(message, catalogue.get("environment_station"), now, LENIENT)
    # The sample's pressure is 1.1 (not hPa): rejected alone, the rest is kept.
    assert ("pressure", "sensing.dead_letter.out_of_range") in {(r.field, r.code)
                                                                for r in rejections}
    assert all(not r.fatal for r in rejections)
    assert kept is not None and kept.values["temperature"] == 12.2 and "pressure" not in kept.values


def test_air_quality_unit_codes_are_applied(fiware_dir: Path, topic: Topic, now: datetime) -> None:
    [message] = _decode(fiware_dir, "AirQualityObserved", "example-normalized.jsonld", topic, now)
    assert message.values["so2"] == 11 and message.values["no2"] == 69  # GQ = µg/m³
    entity = json.loads((fiware_dir / "AirQualityObserved" / "example-normalized.jsonld")
                        .read_text(encoding="utf-8"))
    entity["so2"]["unitCode"] = "GP"  # mg/m³
    [converted] = get_decoder("fiware")(topic(), orjson.dumps(entity), now)
    assert converted.values["so2"] == 11000
    entity["so2"]["unitCode"] = "KGM"
    with pytest.raises(DecodeError) as info:
        get_decoder("fiware")(topic(), orjson.dumps(entity), now)
    assert info.value.code == "sensing.dead_letter.unknown_unit_code"


@pytest.mark.parametrize("form", FORMS)
def test_water_quality_observed(fiware_dir: Path, topic: Topic, now: datetime,
                                catalogue: Catalogue, form: str) -> None:
    [message] = _decode(fiware_dir, "WaterQualityObserved", form, topic, now)
    assert message.ts == datetime(2017, 1, 31, 6, 45, tzinfo=UTC)
    assert message.values == {"ph": 7.4, "water_temperature": 24.4, "conductivity": 50.0}
    kept, rejections = screen(message, catalogue.get("water_quality_monitor"), now, LENIENT)
    assert rejections == [] and kept == message


@pytest.mark.parametrize("form", FORMS)
def test_streetlight(fiware_dir: Path, topic: Topic, now: datetime, catalogue: Catalogue,
                     form: str) -> None:
    [message] = _decode(fiware_dir, "Streetlight", form, topic, now)
    assert message.ts == datetime(2021, 1, 11, 10, 21, 2, tzinfo=UTC)  # +05:30 → UTC
    assert message.values["on"] is False  # powerState "off"
    assert message.values["lamp_status"] == "normal"  # status "ok"
    assert message.values["voltage"] == 50
    kept, rejections = screen(message, catalogue.get("streetlight_controller"), now, LENIENT)
    # The sample reports 250 A for one lamp: out of range, dropped, the rest kept.
    assert [(r.field, r.code) for r in rejections] == [
        ("current", "sensing.dead_letter.out_of_range")]
    assert kept is not None and "current" not in kept.values and kept.values["on"] is False


@pytest.mark.parametrize("form", FORMS)
def test_three_phase_ac_measurement(fiware_dir: Path, topic: Topic, now: datetime,
                                    catalogue: Catalogue, form: str) -> None:
    [message] = _decode(fiware_dir, "ThreePhaseAcMeasurement", form, topic, now)
    values = message.values
    assert values["voltage_a"] == pytest.approx(234.961304)
    assert values["current_c"] == pytest.approx(50.872452)
    assert values["active_power"] == pytest.approx(31.700269531)  # W → kW
    assert values["energy_import"] == pytest.approx(150781.96448)
    if form == "example.json":  # key-values carry no time: the receive time is used
        assert message.ts == now and message.ts_assumed
    else:  # normalized forms carry observedAt / metadata.timestamp per attribute
        assert message.ts == datetime(2019, 1, 24, 22, 0, 0, 173000, tzinfo=UTC)
    kept, rejections = screen(message, catalogue.get("power_monitor"), now, LENIENT)
    assert rejections == [] and kept == message


@pytest.mark.parametrize("form", FORMS)
def test_waste_container_position(fiware_dir: Path, topic: Topic, now: datetime,
                                  catalogue: Catalogue, form: str) -> None:
    [message] = _decode(fiware_dir, "WasteContainer", form, topic, now)
    assert message.values == {"longitude": pytest.approx(-8.76846),
                              "latitude": pytest.approx(42.602144722)}
    kept, rejections = screen(message, catalogue.get("waste_bin_sensor"), now, LENIENT)
    assert rejections == [] and kept == message


def test_waste_container_fill_level_and_status(fiware_dir: Path, topic: Topic,
                                               now: datetime) -> None:
    entity: dict[str, Any] = json.loads((fiware_dir / "WasteContainer" / "example.json")
                                        .read_text(encoding="utf-8"))
    entity.update(fillingLevel=0.85, status="dropped", dateObserved="2024-05-01T07:50:00Z")
    [message] = get_decoder("fiware")(topic(), orjson.dumps(entity), now)
    assert message.values["fill_level"] == 85.0
    assert message.values["bin_status"] == "tipped"
    assert message.ts == datetime(2024, 5, 1, 7, 50, tzinfo=UTC)  # first declared timestamp


def test_notification_with_several_entities(fiware_dir: Path, topic: Topic,
                                            now: datetime) -> None:
    entities = [json.loads((fiware_dir / name / "example-normalized.json")
                           .read_text(encoding="utf-8"))
                for name in ("WaterQualityObserved", "Streetlight")]
    notification = {"subscriptionId": "5a", "data": entities}
    messages = get_decoder("fiware")(topic(), orjson.dumps(notification), now)
    assert [m.origin for m in messages] == ["waterqualityobserved:Sevilla:D1",
                                            "streetlight:guadalajara:4567"]


def test_attributes_with_different_times_become_separate_messages(topic: Topic,
                                                                  now: datetime) -> None:
    entity = {"id": "urn:ngsi-ld:ThreePhaseAcMeasurement:x", "type": "ThreePhaseAcMeasurement",
              "frequency": {"type": "Property", "value": 50.0,
                            "observedAt": "2024-05-01T07:00:00Z"},
              "totalActivePower": {"type": "Property", "value": 1000,
                                   "observedAt": "2024-05-01T07:05:00Z"}}
    first, second = get_decoder("fiware")(topic(), orjson.dumps(entity), now)
    assert (first.values, first.ts.minute) == ({"frequency": 50.0}, 0)
    assert (second.values, second.ts.minute) == ({"active_power": 1.0}, 5)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"id": "x", "type": "Building", "name": "HQ"}, "unmapped_entity_type"),
        ({"id": "x", "type": "Streetlight", "circuit": "C-1"}, "no_mapped_attributes"),
        ({"id": "x"}, "malformed_payload"),
        ([], "malformed_payload"),
        ({"id": "x", "type": "Streetlight", "voltage": 220, "dateObserved": "soon"},
         "bad_timestamp"),
    ],
)
def test_unusable_entities_are_refused(topic: Topic, now: datetime, document: Any,
                                       code: str) -> None:
    with pytest.raises(DecodeError) as info:
        get_decoder("fiware")(topic(), orjson.dumps(document), now)
    assert info.value.code == f"sensing.dead_letter.{code}"


def test_fiware_is_telemetry_only(topic: Topic, now: datetime) -> None:
    with pytest.raises(DecodeError) as info:
        get_decoder("fiware")(topic(channel="state"), b"{}", now)
    assert info.value.code == "sensing.dead_letter.wrong_channel"


def test_a_deployment_mapping_is_used_by_its_decoder(tmp_path: Path, topic: Topic,
                                                     now: datetime) -> None:
    write_type(tmp_path, NOISE_TYPE)
    decoder = FiwareDecoder(load_catalogue(extra_dirs=[tmp_path]))
    entity = {"id": "n1", "type": "NoiseLevelObserved", "LAeq": 61.5,
              "dateObserved": "2024-05-01T07:55:00Z"}
    [message] = decoder(topic(), orjson.dumps(entity), now)
    assert message.values == {"noise": 61.5}
    with pytest.raises(DecodeError):
        get_decoder("fiware")(topic(), orjson.dumps(entity), now)
