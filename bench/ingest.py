"""End-to-end ingest throughput (issue 5): MQTT publish at QoS 1 through a real Mosquitto
(deploy/mosquitto.conf, dynamic security on) → `shequ ingest` → rows stored on PostgreSQL.

Devices of one community send messages of 3 metrics. Phase 1 measures the broker alone: the
same messages to a counting QoS 1 subscriber (`broker_msgs_per_s`). Phase 2 publishes them as
fast as the broker accepts them while the ingest worker stores them; the clock runs from the
first publish to the last row committed (`msgs_per_s`, `points_per_s`); whatever the broker
acknowledged but the database lacks at the end is `lost`. `rss_mib` is the ingest process's
peak resident memory.

Prints one JSON object. Usage: python bench/ingest.py [--quick] [--devices N] [--messages N]
[--workers N] [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database, free_port
from _mqtt import Connection, Counter, Publisher
from shequ.sensing.broker import (
    DynSec,
    ensure_account,
    plugin_path,
    render_config,
    setup_platform,
    simulator_role,
)
from shequ.sensing.settings import BrokerAddress

ADMIN, INGEST, LOADER = ("admin", "bench-admin-0"), ("ingest", "bench-ingest-0"), (
    "loader", "bench-loader-0")
COMMUNITY = "BENCH"
METRICS = ("pm25", "temperature", "humidity")


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """The shipped broker configuration on a free port, with dynamic security."""
    port = free_port()
    dynsec = workdir / "dynamic-security.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(dynsec), *ADMIN], check=True,
                   capture_output=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(render_config(port, workdir, dynsec_file=dynsec, plugin=plugin_path(),
                                  user=getpass.getuser()), encoding="utf-8")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                Connection("127.0.0.1", port, "probe", *ADMIN).close()
                break
            time.sleep(0.05)
        admin = DynSec(BrokerAddress("127.0.0.1", port, *ADMIN))
        setup_platform(admin, *INGEST)
        ensure_account(admin, LOADER[0], LOADER[1], simulator_role(COMMUNITY.lower()))
        admin.close()
        yield port
    finally:
        process.terminate()
        process.wait(30)


def seed(url: str, devices: int) -> int:
    """Migrate and register the community's devices; the community id."""
    from sqlalchemy import insert

    from shequ.api.app import build_services
    from shequ.config import Settings
    from shequ.kit.db import utcnow
    from shequ.migrations import upgrade
    from shequ.platform.scoping import SYSTEM
    from shequ.sensing.models import Device

    services = build_services(Settings(database_url=url))
    upgrade(services.db.engine)
    with services.db.write() as session:
        services.platform.sync_roles(session)
        community = services.platform.create_community(session, SYSTEM, COMMUNITY, "压测社区")
        now = utcnow()
        session.execute(insert(Device), [
            {"community_id": community.id, "code": f"env-{n:05d}", "name": f"环境{n}",
             "device_type": "environment_station", "payload_format": "native",
             "lifecycle": "active", "connectivity": "unknown", "created_at": now,
             "updated_at": now} for n in range(devices)])
        community_id = community.id
    services.db.dispose()
    return int(community_id)


def messages(devices: int, count: int) -> list[tuple[str, bytes]]:
    """`count` messages spread round-robin over the devices, one second apart per device."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    out = []
    for n in range(count):
        device, seq = n % devices, n // devices
        ts = (start + timedelta(seconds=seq, microseconds=device)).isoformat()
        body = {"id": f"{device}-{seq}", "ts": ts,
                "metrics": {"pm25": float(n % 500), "temperature": 20.0 + n % 10,
                            "humidity": 40.0 + n % 50}}
        out.append((f"shequ/v1/{COMMUNITY.lower()}/env-{device:05d}/telemetry",
                    orjson.dumps(body)))
    return out


def broker_rate(port: int, batch: list[tuple[str, bytes]]) -> float:
    """Messages per second from a QoS 1 publisher through the broker to a QoS 1 subscriber."""
    counter = Counter(Connection("127.0.0.1", port, f"count-{uuid.uuid4().hex[:6]}", *INGEST),
                      f"shequ/v1/{COMMUNITY.lower()}/+/telemetry")
    publisher = Publisher(Connection("127.0.0.1", port, "loader-raw", *LOADER))
    started = time.perf_counter()
    publisher.run(batch)
    deadline = time.monotonic() + 120
    while counter.received < len(batch) and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = (counter.last or time.perf_counter()) - started
    counter.connection.close()
    publisher.connection.close()
    return counter.received / elapsed


def stored(url: str, community_id: int) -> tuple[int, int]:
    """(messages counted stored by the pipeline, telemetry rows) for the community."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT COALESCE(SUM(stored), 0) FROM ingest_stats "
                                    "WHERE community_id = :c"), {"c": community_id}).scalar()
        rows = conn.execute(text("SELECT count(*) FROM telemetry WHERE community_id = :c"),
                            {"c": community_id}).scalar()
    engine.dispose()
    return int(counted or 0), int(rows or 0)


def start_ingest(url: str, port: int, worker: int, batch_size: int, shared: bool,
                 log: Path) -> subprocess.Popen[bytes]:
    """`shequ ingest` as a subprocess (several share one subscription group)."""
    env = {**os.environ, "SHEQU_DATABASE_URL": url, "SHEQU_LOG_LEVEL": "WARNING",
           "SHEQU_MQTT_URL": f"mqtt://{INGEST[0]}:{INGEST[1]}@127.0.0.1:{port}",
           "SHEQU_SENSING_CLIENT_ID": f"bench-ingest-{worker}",
           "SHEQU_SENSING_BATCH_SIZE": str(batch_size), "SHEQU_SENSING_BATCH_LINGER_MS": "50",
           "SHEQU_SENSING_RECEIVE_MAXIMUM": str(min(65535, batch_size * 3)),
           "SHEQU_SENSING_SESSION_EXPIRY_S": "3600",
           "SHEQU_SENSING_SHARE_GROUP": "ingest" if shared else ""}
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "shequ.cli", "ingest"], env=env,
                                stdout=subprocess.DEVNULL, stderr=sink)


def peak_rss_mib(pid: int) -> float:
    """The peak resident set of a process (VmHWM), MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_stored(url: str, community_id: int, expected: int, timeout: float) -> float | None:
    """Poll until `expected` messages are stored; the moment it happened (perf_counter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored(url, community_id)[0] >= expected:
            return time.perf_counter()
        time.sleep(0.2)
    return None


def probe(url: str, port: int, community_id: int, process: subprocess.Popen[bytes],
          log: Path) -> int:
    """Publish probes until the worker stores one (it is subscribed); messages stored so far."""
    connection = Connection("127.0.0.1", port, "loader-probe", *LOADER)
    publisher = Publisher(connection)
    for n in range(60):
        body = {"id": f"probe-{n}", "ts": datetime.now(UTC).isoformat(),
                "metrics": dict.fromkeys(METRICS, 1.0)}
        publisher.run([(f"shequ/v1/{COMMUNITY.lower()}/env-00000/telemetry",
                                    orjson.dumps(body))])
        if wait_stored(url, community_id, 1, 1.0) is not None:
            time.sleep(1.0)
            connection.close()
            return stored(url, community_id)[0]
        if process.poll() is not None:
            break
    error = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"the ingest worker stored nothing: {error}")


def run(kind: str, devices: int, count: int, workers: int, batch_size: int) -> dict[str, Any]:
    """One benchmark run on one database."""
    batch = messages(devices, count)
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url, \
            mosquitto(Path(tmp)) as port:
        community_id = seed(url, devices)
        broker_msgs_per_s = broker_rate(port, batch[: min(len(batch), 200_000)])
        log = Path(tmp) / "ingest.log"
        processes = [start_ingest(url, port, n, batch_size, workers > 1, log)
                     for n in range(workers)]
        try:
            baseline = probe(url, port, community_id, processes[0], log)
            publisher = Publisher(Connection("127.0.0.1", port, "loader", *LOADER))
            started = time.perf_counter()
            publish_s = publisher.run(batch)
            done = wait_stored(url, community_id, baseline + count, timeout=900)
            elapsed = (done or time.perf_counter()) - started
            rss = max(peak_rss_mib(p.pid) for p in processes)
        finally:
            for process in processes:
                process.terminate()
                process.wait(60)
        counted, rows = stored(url, community_id)
    messages_stored = rows // len(METRICS) - baseline
    return {
        "db": kind, "devices": devices, "messages": count, "metrics_per_message": len(METRICS),
        "workers": workers, "batch_size": batch_size,
        "publish_s": round(publish_s, 2), "elapsed_s": round(elapsed, 2),
        "msgs_per_s": round(count / elapsed, 1),
        "points_per_s": round(count * len(METRICS) / elapsed, 1),
        "broker_msgs_per_s": round(broker_msgs_per_s, 1),
        "ratio": round(count / elapsed / broker_msgs_per_s, 3),
        "acked_by_broker": publisher.acked, "stored_messages": messages_stored,
        "lost": publisher.acked - messages_stored, "pipeline_counted": counted - baseline,
        "rss_mib": round(rss, 1),
    }


def main() -> None:
    """Parse the options, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    devices = args.devices or (1000 if args.quick else 5000)
    count = args.messages or (30_000 if args.quick else 600_000)
    result = run(args.db, devices, count, args.workers, args.batch_size)
    result["quick"] = args.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
