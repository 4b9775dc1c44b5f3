"""Sensing routes: device ledger extras, HTTP ingest with device authentication, latest values,
history with downsampling, CSV export, dead letters, statistics, compliance, scoping."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select

from shequ.cim.models import DevicePlacement
from shequ.sensing import rollups
from shequ.sensing.models import DeadLetter
from tests.conftest import World
from tests.sensing.fleet import SECRET, Harness, add_device, minutes_ago, now, raw, telemetry

URL = "/api/v1"


def _admin(world: World) -> dict[str, str]:
    return world.headers(world.user("property_manager"))


def _post(world: World, device: str, payload: bytes, auth: str | None,
          channel: str = "telemetry") -> Any:
    headers = {"Authorization": auth} if auth else {}
    return world.client.post(f"{URL}/ingest/{world.code}/{device}/{channel}", content=payload,
                             headers={**headers, "Content-Type": "application/json"})


def test_the_secret_is_write_only_and_rotates(world: World) -> None:
    h = _admin(world)
    created = world.client.post(f"{URL}/devices", headers=h, json={
        "community_id": world.community_id, "code": "lamp-1", "name": "路灯1",
        "device_type": "streetlight_controller", "secret": SECRET})
    assert created.status_code == 201, created.text
    body = created.json()
    assert "secret" not in body and "secret_digest" not in body and body["credentials_at"]
    device_id = body["id"]
    good = telemetry({"on": True}, minutes_ago(1))
    assert _post(world, "lamp-1", good, f"Device lamp-1:{SECRET}").status_code == 202
    rotated = world.client.post(f"{URL}/devices/{device_id}/credentials", headers=h)
    assert rotated.status_code == 201, rotated.text
    fresh = rotated.json()
    assert fresh["username"] == f"{world.code.lower()}:lamp-1"
    assert _post(world, "lamp-1", good, f"Device lamp-1:{SECRET}").status_code == 401
    basic = base64.b64encode(f"lamp-1:{fresh['secret']}".encode()).decode()
    assert _post(world, "lamp-1", telemetry({"on": False}, minutes_ago(0.5)),
                 f"Basic {basic}").status_code == 202
    audit = world.client.get(f"{URL}/audit?action=devices.credentials",
                             headers=world.headers(world.user("platform_admin",
                                                              scope="platform")))
    assert SECRET not in audit.text and fresh["secret"] not in audit.text


def test_http_ingest_authenticates_each_device(world: World) -> None:
    device_id = add_device(world, "env-h")
    add_device(world, "env-other")
    good = telemetry({"pm25": 8.0}, minutes_ago(1), "h-1")
    assert _post(world, "env-h", good, None).json()["code"] == "sensing.auth.device_required"
    assert _post(world, "env-h", good, "Device env-h:wrong-secret-000000").status_code == 401
    impostor = _post(world, "env-h", good, f"Device env-other:{SECRET}")
    assert impostor.status_code == 401
    assert _post(world, "ghost", good, f"Device ghost:{SECRET}").status_code == 401
    accepted = _post(world, "env-h", good, f"Device env-h:{SECRET}")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() | {"rejections": []} == {"received": 1, "stored": 1, "duplicates": 0,
                                                    "rejected": 0, "rejections": []}
    again = _post(world, "env-h", good, f"Device env-h:{SECRET}")
    assert again.status_code == 202 and again.json()["duplicates"] == 1
    refused = _post(world, "env-h", b'{"metrics": {"pm25": "x"}}', f"Device env-h:{SECRET}")
    assert refused.status_code == 422
    assert refused.json()["rejections"][0]["code"] == "sensing.dead_letter.wrong_type"
    with world.services.db.read() as session:
        reasons = session.scalars(select(DeadLetter.reason).where(
            DeadLetter.device_id == device_id).order_by(DeadLetter.id)).all()
    assert reasons == ["sensing.dead_letter.bad_credentials"] * 2 + [
        "sensing.dead_letter.wrong_type"]


def test_latest_history_downsampling_and_csv(world: World) -> None:
    h = _admin(world)
    device_id = add_device(world, "env-hist")
    harness = Harness(world)
    start = minutes_ago(9 * 60).replace(minute=0, second=0, microsecond=0)
    harness.ingest([raw(world, "env-hist", telemetry({"pm25": float(n % 60), "noise": 40.0},
                                                     start + timedelta(minutes=n)))
                    for n in range(8 * 60)])
    latest = world.client.get(f"{URL}/devices/{device_id}/latest", headers=h).json()
    assert latest["online"] is True
    assert {m["metric"]: m["value"] for m in latest["metrics"]} == {"pm25": 59.0, "noise": 40.0}
    url = f"{URL}/devices/{device_id}/telemetry"
    rawq = world.client.get(url, headers=h, params={
        "metric": "pm25", "start": start.isoformat(),
        "end": (start + timedelta(minutes=10)).isoformat()}).json()
    assert rawq["source"] == "raw"
    assert [p["value"] for p in rawq["series"]["pm25"]] == [float(n) for n in range(10)]
    params = {"metric": "pm25", "start": start.isoformat(),
              "end": (start + timedelta(hours=8)).isoformat(), "bucket": "1h"}
    with world.services.db.write() as session:
        rollups.refresh(session, now())
    hourly = world.client.get(url, headers=h, params=params).json()
    assert hourly["source"] == "1m" and hourly["incomplete_from"] is None
    points = hourly["series"]["pm25"]
    assert len(points) == 8
    assert all(p["count"] == 60 and p["min"] == 0.0 and p["max"] == 59.0 and p["avg"] == 29.5
               for p in points)
    short = world.client.get(url, headers=h, params={**params, "bucket": "15m",
                                                     "end": (start + timedelta(hours=1))
                                                     .isoformat()}).json()
    assert short["source"] == "raw" and [p["count"] for p in short["series"]["pm25"]] == [15] * 4
    exported = world.client.get(f"{URL}/devices/{device_id}/telemetry/export", headers=h,
                                params=params)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0] == ["ts", "metric", "count", "avg", "min", "max"] and len(table) == 9
    bad = world.client.get(url, headers=h, params={"metric": "colour"})
    assert bad.status_code == 422 and bad.json()["code"] == "sensing.history.unknown_metric"


def test_dead_letters_and_statistics_are_visible_and_counted(world: World) -> None:
    h = _admin(world)
    add_device(world, "env-dl")
    harness = Harness(world)
    harness.ingest([raw(world, "env-dl", b"{oops"),
                    raw(world, "env-dl", b'{"metrics": {"pm25": -1}}'),
                    raw(world, "env-dl", telemetry({"pm25": 5.0}, minutes_ago(1)))])
    listed = world.client.get(f"{URL}/sensing/dead-letters", headers=h,
                              params={"community_id": world.community_id}).json()
    assert listed["total"] == 2
    assert {item["reason"] for item in listed["items"]} == {
        "sensing.dead_letter.malformed_json", "sensing.dead_letter.out_of_range"}
    assert "{oops" in {item["payload"] for item in listed["items"]}
    stats = world.client.get(f"{URL}/sensing/dead-letters/stats", headers=h,
                             params={"by": "reason", "community_id": world.community_id}).json()
    assert stats["total"] == 2
    flows = world.client.get(f"{URL}/sensing/stats", headers=h,
                             params={"community_id": world.community_id}).json()
    assert flows["groups"] == [{"key": "environment_station", "received": 3, "stored": 1,
                                "duplicates": 0, "rejected": 2, "points": 1,
                                "size": flows["groups"][0]["size"]}]


def test_other_communities_do_not_see_dead_letters(world_factory: Any) -> None:
    a, b = world_factory(), world_factory()
    add_device(a, "env-a")
    Harness(a).ingest([raw(a, "env-a", b"{bad")])
    mine = b.headers(b.user("property_manager"))
    assert b.client.get(f"{URL}/sensing/dead-letters", headers=mine).json()["total"] == 0
    resident = a.headers(a.user("resident", scope="household", scope_id=1))
    assert a.client.get(f"{URL}/sensing/dead-letters", headers=resident).status_code == 403


def test_compliance_report_names_devices_that_fall_short(world: World) -> None:
    h = _admin(world)
    add_device(world, "lamp-ok", "streetlight_controller",
               properties={"mtbf_h": 40000, "response_s": 1.2})
    add_device(world, "lamp-slow", "streetlight_controller",
               properties={"mtbf_h": 40000, "response_s": 7.5})
    add_device(world, "lamp-unknown", "streetlight_controller")
    report = world.client.get(f"{URL}/sensing/compliance", headers=h, params={
        "community_id": world.community_id, "device_type": "streetlight_controller"}).json()
    by_code = {row["device"]: row for row in report["devices"]}
    assert set(by_code) == {"lamp-slow", "lamp-unknown"}
    assert [(s["indicator"], s["reason"]) for s in by_code["lamp-slow"]["shortfalls"]] == [
        ("response_s", "below")]
    proven = world.client.get(f"{URL}/sensing/compliance", headers=h, params={
        "community_id": world.community_id, "proven_only": "true"}).json()
    assert [row["device"] for row in proven["devices"]] == ["lamp-slow"]
    refused = world.client.post(f"{URL}/devices", headers=h, json={
        "community_id": world.community_id, "code": "lamp-x", "name": "x",
        "device_type": "streetlight_controller", "properties": {"colour": 1}})
    assert refused.status_code == 422 and refused.json()["code"] == "sensing.property_unknown"


def test_a_device_takes_its_place_from_the_cim_placement(world: World) -> None:
    h = _admin(world)
    placement = world.client.post(f"{URL}/device_placements", headers=h, json={
        "community_id": world.community_id, "name": "1号楼烟感", "model_kind": "building_sensing",
        "lon": 120.1, "lat": 30.2, "height": 12.0}).json()
    created = world.client.post(f"{URL}/devices", headers=h, json={
        "community_id": world.community_id, "code": "smoke-p", "name": "烟感",
        "device_type": "smoke_detector", "placement_id": placement["id"]}).json()
    assert (created["lon"], created["lat"], created["height"]) == (120.1, 30.2, 12.0)
    with world.services.db.read() as session:
        row = session.get(DevicePlacement, placement["id"])
        assert row is not None and row.device_id == created["id"]
    taken = world.client.post(f"{URL}/devices", headers=h, json={
        "community_id": world.community_id, "code": "smoke-q", "name": "烟感2",
        "device_type": "smoke_detector", "placement_id": placement["id"]})
    assert taken.status_code == 422 and taken.json()["code"] == "sensing.placement_taken"
    assert world.client.delete(f"{URL}/devices/{created['id']}", headers=h).status_code == 204
    with world.services.db.read() as session:
        row = session.get(DevicePlacement, placement["id"])
        assert row is not None and row.device_id is None


def test_unknown_types_and_formats_are_refused(world: World) -> None:
    h = _admin(world)
    base = {"community_id": world.community_id, "code": "x-1", "name": "x"}
    bad_type = world.client.post(f"{URL}/devices", headers=h,
                                 json={**base, "device_type": "teapot"})
    assert bad_type.status_code == 422 and bad_type.json()["code"] == "sensing.device_type.unknown"
    bad_format = world.client.post(f"{URL}/devices", headers=h, json={
        **base, "device_type": "camera", "payload_format": "os.system"})
    assert bad_format.status_code == 422 and bad_format.json()["code"] == "sensing.format_unknown"
    types = world.client.get(f"{URL}/sensing/device-types", headers=h).json()
    assert len(types) == 33 and {"id", "metrics", "commands"} <= set(types[0])


def test_event_payload_through_http(world: World) -> None:
    add_device(world, "gas-1", "gas_leak_detector")
    payload = orjson.dumps({"id": "g-1", "ts": minutes_ago(1).isoformat(),
                            "event": "leak_alarm", "data": {"concentration": 30, "level": "high"}})
    response = _post(world, "gas-1", payload, f"Device gas-1:{SECRET}", "event")
    assert response.status_code == 202, response.text
    assert response.json()["stored"] == 1


def test_bulk_provisioning_from_xlsx_keeps_only_digests(world: World) -> None:
    from openpyxl import Workbook, load_workbook

    h = _admin(world)
    template = load_workbook(io.BytesIO(world.client.get(f"{URL}/devices/import/template",
                                                         headers=h).content)).worksheets[0]
    header = [cell.value for cell in template[1]]
    labels = {"code": "设备编码*", "name": "名称*", "device_type": "设备类型*",
              "secret": "设备密钥"}
    assert set(labels.values()) <= set(header), header
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    secrets = {f"bulk-{n}": f"bulk-secret-{n:04d}-abcdefgh" for n in range(3)}
    for code, secret in secrets.items():
        row = {"code": code, "name": f"批量{code}", "device_type": "environment_station",
               "secret": secret}
        sheet.append([next((row[k] for k, v in labels.items() if v == column), None)
                      for column in header])
    out = io.BytesIO()
    book.save(out)
    imported = world.client.post(f"{URL}/devices/import?community_id={world.community_id}",
                                 headers=h, files={"file": ("devices.xlsx", out.getvalue(),
                                                            "application/octet-stream")})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 3
    exported = world.client.get(f"{URL}/devices/export?community_id={world.community_id}"
                                "&format=csv", headers=h).content.decode("utf-8-sig")
    assert not any(secret in exported for secret in secrets.values())
    good = telemetry({"pm25": 2.0}, minutes_ago(1))
    assert _post(world, "bulk-1", good, f"Device bulk-1:{secrets['bulk-1']}").status_code == 202
    assert _post(world, "bulk-1", good, f"Device bulk-1:{secrets['bulk-2']}").status_code == 401
