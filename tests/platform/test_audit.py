"""The audit log: every write and log-in recorded, chained by HMAC-SM3, tampering detected."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from shequ.platform.models import AuditEntry
from shequ.platform.scoping import SYSTEM
from tests.conftest import World, fresh_database_url, make_settings, migrated_services


def test_ledger_writes_are_audited_with_before_and_after(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    h = world.headers(admin)
    created = world.client.post("/api/v1/organisations", headers=h, json={
        "community_id": world.community_id, "name": "审计测试单位", "kind": "key_unit"}).json()
    world.client.patch(f"/api/v1/organisations/{created['id']}", headers=h,
                       json={"name": "改名后的单位"})
    world.client.delete(f"/api/v1/organisations/{created['id']}", headers=h)
    entries = world.client.get(f"/api/v1/audit?limit=10&actor_id={world.users[admin]}",
                               headers=h).json()
    by_action = {e["action"]: e for e in entries}
    assert by_action["organisations.create"]["after"]["name"] == "审计测试单位"
    update = by_action["organisations.update"]
    assert (update["before"]["name"], update["after"]["name"]) == ("审计测试单位", "改名后的单位")
    assert by_action["organisations.delete"]["before"]["name"] == "改名后的单位"
    assert by_action["organisations.create"]["community_id"] == world.community_id
    assert by_action["organisations.create"]["request_id"]


def test_audit_is_scoped_by_community(world_factory: Any) -> None:
    a, b = world_factory(), world_factory()
    admin = a.user("platform_admin", scope="platform")
    a.client.post("/api/v1/organisations", headers=a.headers(admin), json={
        "community_id": b.community_id, "name": "B的单位", "kind": "other"})
    committee = a.user("community_committee")
    seen = a.client.get("/api/v1/audit?limit=500", headers=a.headers(committee)).json()
    assert all(e["community_id"] == a.community_id for e in seen)
    resident = a.user("resident", scope="household", scope_id=1)
    assert a.client.get("/api/v1/audit", headers=a.headers(resident)).status_code == 403


@pytest.fixture
def scratch(backend: str, tmp_path: Path) -> Iterator[Any]:
    """Services over a database of its own, so tampering harms no other test."""
    url, drop = fresh_database_url(backend, tmp_path)
    services = migrated_services(make_settings(url))
    with services.db.write() as session:
        for n in range(5):
            services.platform.create_community(session, SYSTEM, f"AUD{n}", f"社区{n}")
    yield services
    services.db.dispose()
    drop()


def _verify_cli(services: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEQU_DATABASE_URL": services.settings.database_url}
    return subprocess.run([sys.executable, "-m", "shequ.cli", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _seq(services: Any, offset: int) -> int:
    with services.db.read() as session:
        first = session.scalar(select(func.min(AuditEntry.seq))) or 0
    return first + offset


def test_intact_chain_verifies(scratch: Any) -> None:
    with scratch.db.read() as session:
        result = scratch.platform.audit_log.verify(session)
    assert result.ok and result.checked == 5
    cli = _verify_cli(scratch)
    assert cli.returncode == 0, cli.stderr
    assert "intact" in cli.stderr


@pytest.mark.parametrize("tamper", ["edit", "delete_middle", "delete_last", "insert"])
def test_direct_database_tampering_is_detected(scratch: Any, tamper: str) -> None:
    target = _seq(scratch, 2)
    with scratch.db.engine.begin() as conn:
        if tamper == "edit":
            conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = :s"),
                         {"s": target})
        elif tamper == "delete_middle":
            conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": target})
        elif tamper == "delete_last":
            conn.execute(text(
                "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"))
        else:
            last = text("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
            row = conn.execute(last).mappings().one()
            forged = {**row, "seq": row["seq"] + 1, "prev_hash": row["hash"], "actor": "forger"}
            cols = ", ".join(forged)
            conn.execute(text(f"INSERT INTO audit_log ({cols}) VALUES "
                              f"({', '.join(':' + c for c in forged)})"),
                         {k: (v if not isinstance(v, dict | list) else None)
                          for k, v in forged.items()})
    with scratch.db.read() as session:
        result = scratch.platform.audit_log.verify(session)
    assert not result.ok
    expected = {"edit": target, "delete_middle": target, "delete_last": _seq(scratch, 4),
                "insert": _seq(scratch, 5)}[tamper]
    assert result.first_broken == expected, result
    cli = _verify_cli(scratch)
    assert cli.returncode == 1
    assert f"entry {expected}" in cli.stderr
