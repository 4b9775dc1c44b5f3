"""The ingest pipeline over the database: idempotent storage, dead letters, latest state,
rollup marks, statistics, events after commit, flood control."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import select

from shequ.sensing.models import (
    Connectivity,
    DeadLetter,
    Device,
    DeviceEvent,
    DeviceLatest,
    IngestStat,
    Lifecycle,
    MessageTrace,
    RollupDirty,
    Telemetry,
)
from shequ.sensing.service import Raw
from shequ.sensing.settings import SensingSettings
from tests.conftest import World
from tests.sensing.fleet import Harness, add_device, minutes_ago, raw, telemetry, topic


@pytest.fixture
def harness(world: World) -> Harness:
    return Harness(world)


def test_telemetry_is_stored_once_with_latest_state_marks_and_stats(
        world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-1")
    t1, t2 = minutes_ago(3), minutes_ago(2)
    batch = [raw(world, "env-1", telemetry({"pm25": 35.5, "temperature": 21.0}, t1, "m1")),
             raw(world, "env-1", telemetry({"pm25": 40.0}, t2, "m2"))]
    first = harness.ingest(batch)
    assert (first.stored, first.duplicates, first.points) == (2, 0, 3)
    again = harness.ingest(batch)  # a QoS 1 redelivery
    assert (again.stored, again.duplicates, again.points) == (0, 2, 0)
    assert harness.count(Telemetry, device_id=device_id) == 3
    with world.services.db.read() as session:
        latest = session.get(DeviceLatest, device_id)
        assert latest is not None
        assert latest.metrics["pm25"][0] == 40.0 and latest.metrics["temperature"][0] == 21.0
        marks = session.scalars(select(RollupDirty.bucket).where(
            RollupDirty.community_id == world.community_id)).all()
        assert {m.replace(second=0) for m in marks} == {t1.replace(second=0, microsecond=0),
                                                        t2.replace(second=0, microsecond=0)}
        stats = session.scalars(select(IngestStat).where(
            IngestStat.community_id == world.community_id)).all()
        assert sum(s.received for s in stats) == 4
        assert sum(s.stored for s in stats) == 2 and sum(s.duplicates for s in stats) == 2
        assert sum(s.points for s in stats) == 3
        device = session.get(Device, device_id)
        assert device is not None
        assert device.connectivity == Connectivity.online
        assert device.lifecycle == Lifecycle.active
    topics = [t for t, _ in harness.published]
    envelopes = [data for t, data in harness.published if t == "sensing.telemetry"]
    assert [len(e["items"]) for e in envelopes] == [2]  # duplicates are not published again
    assert {i["msg_id"] for i in envelopes[0]["items"]} == {"m1", "m2"}
    assert topics.count("sensing.device.online") == 1


def test_an_older_sample_does_not_replace_a_newer_latest_value(
        world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-2")
    harness.ingest([raw(world, "env-2", telemetry({"pm25": 50.0}, minutes_ago(1)))])
    harness.ingest([raw(world, "env-2", telemetry({"pm25": 10.0, "noise": 40.0},
                                                  minutes_ago(5)))])
    with world.services.db.read() as session:
        latest = session.get(DeviceLatest, device_id)
        assert latest is not None
        assert latest.metrics["pm25"][0] == 50.0 and latest.metrics["noise"][0] == 40.0


def test_nothing_is_published_when_the_transaction_rolls_back(
        world: World, harness: Harness) -> None:
    add_device(world, "env-3")
    with pytest.raises(RuntimeError), world.services.db.write() as session:
        harness.pipeline.ingest(session, [raw(world, "env-3", telemetry({"pm25": 1.0},
                                                                        minutes_ago(1)))])
        raise RuntimeError("commit fails")
    assert harness.published == []
    assert harness.count(Telemetry, community_id=world.community_id) == 0


BAD: list[tuple[str, bytes, str]] = [
    ("telemetry", b"{not json", "sensing.dead_letter.malformed_json"),
    ("telemetry", b'{"metrics": [1, 2]}', "sensing.dead_letter.malformed_payload"),
    ("telemetry", b'{"metrics": {"pm25": "high"}}', "sensing.dead_letter.wrong_type"),
    ("telemetry", b'{"metrics": {"pm25": -4}}', "sensing.dead_letter.out_of_range"),
    ("telemetry", b'{"metrics": {"pm25": 1}, "ts": "2999-01-01T00:00:00Z"}',
     "sensing.dead_letter.future_timestamp"),
    ("telemetry", b'{"metrics": {"pm25": 1}, "ts": 1700}', "sensing.dead_letter.stale_timestamp"),
    ("telemetry", b'{"metrics": {"pm25": 1}, "ts": "yesterday"}',
     "sensing.dead_letter.bad_timestamp"),
    ("telemetry", b'{"metrics": {}}', "sensing.dead_letter.empty"),
    ("event", b'{"event": "volcano"}', "sensing.dead_letter.unknown_event"),
    ("cmd/ack", b'{"ack": "nope", "ok": true}', "sensing.dead_letter.unknown_command"),
    ("telemetry", b"x" * 70_000, "sensing.dead_letter.oversized"),
]


@pytest.mark.parametrize(("channel", "payload", "reason"), BAD,
                         ids=[reason.rsplit(".", 1)[1] for _, _, reason in BAD])
def test_bad_input_is_dead_lettered_with_its_reason(
        world: World, harness: Harness, channel: str, payload: bytes, reason: str) -> None:
    device_id = add_device(world, "env-bad")
    outcome = harness.ingest([raw(world, "env-bad", payload, channel),
                              raw(world, "env-bad", telemetry({"pm25": 12.0}, minutes_ago(1)))])
    assert harness.reasons(device_id) == [reason]
    assert outcome.stored == 1  # the good message of the same batch is kept
    assert harness.count(Telemetry, device_id=device_id) == 1
    with world.services.db.read() as session:
        letter = session.scalars(select(DeadLetter).where(
            DeadLetter.device_id == device_id)).one()
        assert letter.payload_size == len(payload)
        assert letter.payload and payload.startswith(letter.payload)
        assert letter.reasons[0]["message"]["en"]
    assert ("sensing.dead_letter" in [t for t, _ in harness.published])


def test_a_partly_valid_message_keeps_its_valid_values(world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-part")
    payload = telemetry({"pm25": 30.0, "noise": 500, "colour": "red"}, minutes_ago(1), "p1")
    outcome = harness.ingest([raw(world, "env-part", payload)])
    assert outcome.stored == 1 and outcome.points == 1
    with world.services.db.read() as session:
        letter = session.scalars(select(DeadLetter).where(
            DeadLetter.device_id == device_id)).one()
        assert letter.partial and letter.msg_id == "p1"
        assert sorted((r["code"], r["field"]) for r in letter.reasons) == [
            ("sensing.dead_letter.out_of_range", "noise"),
            ("sensing.dead_letter.unknown_metric", "colour")]


def test_unknown_devices_communities_and_topics(world: World, harness: Harness) -> None:
    add_device(world, "env-known")
    good = telemetry({"pm25": 1.0}, minutes_ago(1))
    raws = [raw(world, "ghost", good),
            Raw("shequ/v1/nowhere-at-all/env-known/telemetry", good, minutes_ago(0)),
            Raw("shequ/v1/Upper/env-known/telemetry", good, minutes_ago(0)),
            Raw("devices/env-known", good, minutes_ago(0)),
            Raw(topic(world, "env-known", "weather"), good, minutes_ago(0))]
    outcome = harness.ingest(raws)
    assert outcome.dead_letters == 5 and outcome.stored == 0
    with world.services.db.read() as session:
        reasons = session.scalars(select(DeadLetter.reason).where(
            DeadLetter.topic.in_([r.topic for r in raws])).order_by(DeadLetter.id)).all()
    assert sorted(reasons) == [
        "sensing.dead_letter.topic_channel", "sensing.dead_letter.topic_community",
        "sensing.dead_letter.topic_segments", "sensing.dead_letter.unknown_device",
        "sensing.dead_letter.unknown_device"]


def test_retired_devices_are_refused(world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-old", lifecycle="retired")
    harness.ingest([raw(world, "env-old", telemetry({"pm25": 1.0}, minutes_ago(1)))])
    assert harness.reasons(device_id) == ["sensing.dead_letter.device_retired"]
    assert harness.count(Telemetry, device_id=device_id) == 0


def test_a_flooding_device_is_throttled_and_others_are_untouched(world: World) -> None:
    harness = Harness(world, SensingSettings(device_budget_per_minute=20))
    flooder, calm = add_device(world, "env-flood"), add_device(world, "env-calm")
    stamp = minutes_ago(1)
    flood = [raw(world, "env-flood", telemetry({"pm25": float(n)}, msg_id=f"f{n}",
                                                ts=stamp.replace(microsecond=n * 1000)))
             for n in range(200)]
    calm_msgs = [raw(world, "env-calm", telemetry({"pm25": float(n)}, msg_id=f"c{n}",
                                                   ts=stamp.replace(microsecond=n * 1000)))
                 for n in range(15)]
    outcome = harness.ingest(flood[:100] + calm_msgs + flood[100:])
    assert harness.count(Telemetry, device_id=calm) == 15
    assert harness.count(Telemetry, device_id=flooder) == 20
    assert outcome.dead_letters == 180
    assert set(harness.reasons(flooder)) == {"sensing.dead_letter.rate_limited"}


def test_events_are_stored_once_and_traced(world: World, harness: Harness) -> None:
    device_id = add_device(world, "smoke-1", "smoke_detector")
    payload = orjson.dumps({"id": "e-1", "ts": minutes_ago(1).isoformat(),
                            "event": "smoke_alarm", "data": {"smoke_density": 12.5}})
    harness.ingest([raw(world, "smoke-1", payload, "event")])
    harness.ingest([raw(world, "smoke-1", payload, "event")])
    assert harness.count(DeviceEvent, device_id=device_id) == 1
    events = [data for t, data in harness.published if t == "sensing.event"]
    assert len(events) == 1 and events[0]["severity"] == "critical"
    with world.services.db.read() as session:
        stages = session.scalars(select(MessageTrace.stage).where(
            MessageTrace.device_id == device_id, MessageTrace.msg_id == "e-1")).all()
    assert stages == ["received", "decoded", "stored"]
    assert [r.stage for r in harness.bus.trace(f"{world.code.lower()}/smoke-1/e-1")][:1] == [
        "published"]


def test_messages_with_an_id_but_no_timestamp_are_deduplicated_by_id(
        world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-nots")
    payload = orjson.dumps({"id": "no-ts-1", "metrics": {"pm25": 3.0}})
    harness.ingest([raw(world, "env-nots", payload, received_at=minutes_ago(2))])
    second = harness.ingest([raw(world, "env-nots", payload, received_at=minutes_ago(1))])
    assert second.duplicates == 1
    assert harness.count(Telemetry, device_id=device_id) == 1


def test_other_formats_and_heartbeats(world: World, harness: Harness) -> None:
    device_id = add_device(world, "env-sta", payload_format="sensorthings")
    observations: list[dict[str, Any]] = [
        {"phenomenonTime": minutes_ago(2).isoformat(), "result": 21.5,
         "Datastream": {"name": "env-sta/temperature"}},
        {"phenomenonTime": minutes_ago(1).isoformat(), "result": 33.0,
         "Datastream": {"name": "env-sta/pm25"}}]
    outcome = harness.ingest([raw(world, "env-sta", orjson.dumps(observations)),
                              raw(world, "env-sta", b"", "heartbeat")])
    assert outcome.stored == 3 and outcome.points == 2
    assert harness.count(Telemetry, device_id=device_id) == 2
