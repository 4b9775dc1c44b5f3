"""Payload adapters: native JSON, SensorThings, the registry and vendor plug-ins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shequ.sensing import adapters
from shequ.sensing.adapters import decode_payload, get_decoder, register
from shequ.sensing.adapters.native import decode as native
from shequ.sensing.adapters.native import encode_command, encode_telemetry
from shequ.sensing.adapters.sensorthings import SensorThingsDecoder
from shequ.sensing.catalogue import Catalogue
from shequ.sensing.readings import DecodeError, Kind, Message, screen
from shequ.sensing.topics import TopicInfo

Topic = Callable[..., TopicInfo]


def _json(value: object) -> bytes:
    return orjson.dumps(value)


# --- native ----------------------------------------------------------------------------------


def test_native_telemetry(topic: Topic, now: datetime) -> None:
    payload = _json({"id": "m-1", "ts": "2024-05-01T16:00:00+08:00", "metrics": {"pm25": 35.2}})
    [message] = native(topic(), payload, now)
    assert (message.id, message.kind, message.values) == ("m-1", Kind.TELEMETRY, {"pm25": 35.2})
    assert message.ts == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert (message.community, message.device, message.source) == ("c1", "dev-1", "native")
    assert not message.derived_id and not message.ts_assumed
    assert message.key == ("c1", "dev-1", "m-1")


def test_native_batch_with_epoch_millis_and_integer_ids(topic: Topic, now: datetime) -> None:
    start = int(now.timestamp() * 1000)
    payload = _json([{"id": index, "ts": start - index * 60_000, "metrics": {"pm25": index}}
                     for index in range(3)])
    messages = native(topic(), payload, now)
    assert [m.id for m in messages] == ["0", "1", "2"]
    assert messages[2].ts == now - timedelta(minutes=2)


def test_native_event_state_ack_and_heartbeat(topic: Topic, now: datetime) -> None:
    [event] = native(topic(channel="event"),
                     _json({"event": "smoke_alarm", "data": {"smoke_density": 12.5}}), now)
    assert (event.kind, event.event, event.values) == (Kind.EVENT, "smoke_alarm",
                                                       {"smoke_density": 12.5})
    [bare] = native(topic(channel="event"), _json({"event": "tamper"}), now)
    assert bare.values == {}
    [state] = native(topic(channel="state"), _json({"state": {"on": True}}), now)
    assert (state.kind, state.values) == (Kind.STATE, {"on": True})
    [ack] = native(topic(channel="cmd/ack"),
                   _json({"ack": "cmd-9", "ok": False, "error": "busy", "state": {"on": False}}),
                   now)
    assert (ack.kind, ack.ack, ack.ok, ack.error, ack.values) == (
        Kind.ACK, "cmd-9", False, "busy", {"on": False})
    [beat] = native(topic(channel="heartbeat"), b"", now)
    assert (beat.kind, beat.ts, beat.ts_assumed) == (Kind.HEARTBEAT, now, True)


def test_missing_id_and_ts_are_derived_and_stable(topic: Topic, now: datetime) -> None:
    payload = _json({"ts": "2024-05-01T07:59:00Z", "metrics": {"pm25": 35, "pm10": 80}})
    reordered = _json({"metrics": {"pm10": 80, "pm25": 35}, "ts": "2024-05-01T07:59:00Z"})
    first, again = native(topic(), payload, now)[0], native(topic(), reordered, now)[0]
    assert first.derived_id and first.id.startswith("h-") and first.id == again.id
    later = native(topic(), payload, now + timedelta(seconds=3))[0]
    assert later.id == first.id  # a redelivery is recognised whenever it arrives
    other = native(topic(device="dev-2"), payload, now)[0]
    changed = native(topic(), _json({"ts": "2024-05-01T07:59:00Z", "metrics": {"pm25": 36}}),
                     now)[0]
    assert len({first.id, other.id, changed.id}) == 3
    [assumed] = native(topic(), _json({"metrics": {"pm25": 1}}), now)
    assert assumed.ts == now and assumed.ts_assumed


@pytest.mark.parametrize(
    ("channel", "payload", "code"),
    [
        ("telemetry", b"{not json", "malformed_json"),
        ("telemetry", b'{"metrics": {"x": NaN}}', "malformed_json"),
        ("telemetry", b"", "malformed_json"),
        ("telemetry", b"[]", "malformed_payload"),
        ("telemetry", b'"hello"', "malformed_payload"),
        ("telemetry", b'{"pm25": 3}', "malformed_payload"),
        ("telemetry", b'{"metrics": [1, 2]}', "malformed_payload"),
        ("telemetry", b'[{"metrics": {}}, 5]', "malformed_payload"),
        ("telemetry", b'{"id": "", "metrics": {}}', "malformed_payload"),
        ("telemetry", b'{"id": {"a": 1}, "metrics": {}}', "malformed_payload"),
        ("telemetry", b'{"ts": "yesterday", "metrics": {}}', "bad_timestamp"),
        ("telemetry", b'{"ts": true, "metrics": {}}', "bad_timestamp"),
        ("telemetry", b'{"ts": 1e300, "metrics": {}}', "bad_timestamp"),
        ("event", b'{"data": {}}', "malformed_payload"),
        ("event", b'{"event": "x", "data": 3}', "malformed_payload"),
        ("state", b'{"on": true}', "malformed_payload"),
        ("cmd/ack", b'{"ack": "c1"}', "malformed_payload"),
        ("cmd/ack", b'{"ack": "c1", "ok": "yes"}', "malformed_payload"),
        ("cmd/ack", b'{"ok": true}', "malformed_payload"),
        ("cmd", b'{"cmd": "x"}', "wrong_channel"),
    ],
)
def test_native_refuses_malformed_payloads(
    topic: Topic, now: datetime, channel: str, payload: bytes, code: str
) -> None:
    with pytest.raises(DecodeError) as info:
        native(topic(channel=channel), payload, now)
    assert info.value.code == f"sensing.dead_letter.{code}"
    assert info.value.user_message("zh-CN") != info.value.code


def test_encoders_round_trip(topic: Topic, now: datetime) -> None:
    [message] = native(topic(), encode_telemetry({"pm25": 3.5}, now, "x-1"), now)
    assert (message.id, message.ts, message.values) == ("x-1", now, {"pm25": 3.5})
    command = orjson.loads(encode_command("cmd-1", "dim", {"level": 40}, now))
    assert command == {"id": "cmd-1", "ts": now.isoformat(), "cmd": "dim",
                       "params": {"level": 40}}


# --- SensorThings ----------------------------------------------------------------------------


def test_sensorthings_single_observation(topic: Topic, now: datetime) -> None:
    payload = _json({"@iot.id": 9001, "phenomenonTime": "2024-05-01T07:58:00Z", "result": 21.5,
                     "resultTime": "2024-05-01T07:58:01Z",
                     "Datastream": {"@iot.id": 3, "name": "dev-1/temperature"}})
    [message] = get_decoder("sensorthings")(topic(), payload, now)
    assert (message.id, message.values, message.source) == ("9001", {"temperature": 21.5},
                                                            "sensorthings")
    assert message.ts == datetime(2024, 5, 1, 7, 58, tzinfo=UTC)


def test_sensorthings_collection_intervals_and_properties(topic: Topic, now: datetime) -> None:
    payload = _json({"value": [
        {"phenomenonTime": "2024-05-01T07:00:00Z/2024-05-01T07:30:00Z", "result": 12,
         "Datastream": {"name": "Rain gauge", "properties": {"metric": "rainfall"}}},
        {"resultTime": "2024-05-01T07:31:00Z", "result": 55.0,
         "Datastream": {"name": "humidity"}},
    ]})
    first, second = get_decoder("sensorthings")(topic(), payload, now)
    assert first.values == {"rainfall": 12} and first.ts.minute == 30
    assert second.values == {"humidity": 55.0} and second.ts.minute == 31
    assert first.derived_id and first.id != second.id


def test_sensorthings_data_array_and_datastream_ids(topic: Topic, now: datetime) -> None:
    payload = _json([{
        "Datastream": {"@iot.id": 17},
        "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
        "dataArray@iot.count": 2,
        "dataArray": [["2024-05-01T07:00:00Z", 40, 1], ["2024-05-01T07:01:00Z", 41, 1]],
    }])
    decoder = SensorThingsDecoder({17: "pm25"})
    messages = decoder(topic(), payload, now)
    assert [m.values for m in messages] == [{"pm25": 40}, {"pm25": 41}]
    with pytest.raises(DecodeError) as info:
        get_decoder("sensorthings")(topic(), payload, now)
    assert info.value.code == "sensing.dead_letter.unmapped_datastream"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"nope", "malformed_json"),
        (b"[]", "malformed_payload"),
        (b'{"result": 1}', "malformed_payload"),
        (b'{"Datastream": {"name": "pm25"}}', "malformed_payload"),
        (b'{"Datastream": {"name": "pm25"}, "result": 1, "phenomenonTime": "x"}',
         "bad_timestamp"),
        (b'[{"Datastream": {"name": "pm25"}, "components": ["result"], "dataArray": [[1, 2]]}]',
         "malformed_payload"),
    ],
)
def test_sensorthings_refuses_malformed_payloads(
    topic: Topic, now: datetime, payload: bytes, code: str
) -> None:
    with pytest.raises(DecodeError) as info:
        get_decoder("sensorthings")(topic(), payload, now)
    assert info.value.code == f"sensing.dead_letter.{code}"


def test_sensorthings_is_telemetry_only(topic: Topic, now: datetime) -> None:
    with pytest.raises(DecodeError) as info:
        get_decoder("sensorthings")(topic(channel="event"), b"{}", now)
    assert info.value.code == "sensing.dead_letter.wrong_channel"


def test_sensorthings_messages_validate_against_the_type(
    topic: Topic, now: datetime, catalogue: Catalogue
) -> None:
    payload = _json([{"phenomenonTime": "2024-05-01T07:59:00Z", "result": value,
                      "Datastream": {"name": name}}
                     for name, value in (("pm25", 35), ("noise", 300), ("ozone", 1))])
    station = catalogue.get("environment_station")
    results = [screen(m, station, now) for m in get_decoder("sensorthings")(topic(), payload,
                                                                             now)]
    assert [kept is not None for kept, _ in results] == [True, False, False]
    assert [r[0].code for _, r in results[1:]] == ["sensing.dead_letter.out_of_range",
                                                   "sensing.dead_letter.unknown_metric"]


# --- registry and plug-ins ---------------------------------------------------------------------


def test_registry_names_the_built_in_formats() -> None:
    assert {"native", "sensorthings", "fiware"} <= set(adapters.names())


@pytest.fixture(autouse=True)
def _private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test stay in that test."""
    monkeypatch.setattr(adapters, "_registry", dict(adapters._registry))


def test_a_vendor_format_is_a_plug_in_module(topic: Topic, now: datetime,
                                              catalogue: Catalogue) -> None:
    decoder = get_decoder("tests.sensing.acme_adapter")
    assert decoder is get_decoder("tests.sensing.acme_adapter:decode")
    [message] = decoder(topic(), b"TEMP=21.5;HUM=40;PM25=12", now)
    assert message.values == {"temperature": 21.5, "humidity": 40.0, "pm25": 12.0}
    kept, rejections = screen(message, catalogue.get("environment_station"), now)
    assert kept == message and rejections == []
    register("acme", "tests.sensing.acme_adapter")
    decoded = decode_payload("acme", topic(), b"TEMP=x", now, max_bytes=100)
    assert [r.code for r in decoded.rejections] == ["sensing.dead_letter.malformed_payload"]


@pytest.mark.parametrize("name", ["nonsense", "tests.sensing.no_such_module",
                                  "tests.sensing.acme_adapter:missing",
                                  "tests.sensing.acme_adapter.FIELDS"])
def test_unknown_formats_are_refused(name: str) -> None:
    with pytest.raises(DecodeError) as info:
        get_decoder(name)
    assert info.value.code == "sensing.dead_letter.unknown_format"


def test_decode_payload_turns_errors_into_rejections(topic: Topic, now: datetime) -> None:
    ok = decode_payload("native", topic(), b'{"metrics": {"pm25": 1}}', now, max_bytes=100)
    assert len(ok.messages) == 1 and ok.rejections == []
    big = decode_payload("native", topic(), b'{"metrics": {"pm25": 1}}', now, max_bytes=10)
    assert big.messages == []
    assert [(r.code, r.params["limit"]) for r in big.rejections] == [
        ("sensing.dead_letter.oversized", 10)]
    bad = decode_payload("native", topic(), b"{", now, max_bytes=100)
    assert bad.rejections[0].code == "sensing.dead_letter.malformed_json"
    unknown = decode_payload("teletype", topic(), b"{}", now, max_bytes=100)
    assert unknown.rejections[0].code == "sensing.dead_letter.unknown_format"


def test_a_crashing_plug_in_is_dead_lettered(topic: Topic, now: datetime) -> None:
    def broken(topic: TopicInfo, payload: bytes, received_at: datetime) -> list[Message]:
        raise KeyError("oops")

    register("broken", broken)
    decoded = decode_payload("broken", topic(), b"{}", now, max_bytes=100)
    assert [(r.code, r.params["error"]) for r in decoded.rejections] == [
        ("sensing.dead_letter.adapter_failed", "KeyError")]
