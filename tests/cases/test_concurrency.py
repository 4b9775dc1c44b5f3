"""Optimistic locking: of two concurrent steps from the same version, one wins and the other
gets 409 `cases.stale`; nothing of the loser is written."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shequ.cases.ledgers import cases
from shequ.cases.service import CaseService, CaseStale
from shequ.platform.models import User
from shequ.platform.scoping import subject_for_user
from tests.cases.conftest import Estate, leak


def _dispatched(e: Estate) -> int:
    case_id = int(e.post("/cases", "resident", leak(e), 201)["id"])
    e.step(case_id, "manager", "dispatch", assignee=e.uid("worker"))
    return case_id


def test_two_steps_from_one_version_one_wins(estate: Estate) -> None:
    e = estate
    case_id = _dispatched(e)
    barrier = threading.Barrier(2)
    calls = [("worker", {"transition": "accept", "version": 2}),
             ("manager", {"transition": "dispatch", "version": 2,
                          "data": {"assignee": e.uid("worker2")}})]
    headers = {who: e.h(who, "en") for who, _ in calls}

    def attempt(who: str, body: dict[str, Any]) -> Any:
        barrier.wait()
        return e.world.client.post(f"/api/v1/cases/{case_id}/transitions",
                                   headers=headers[who], json=body)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda call: attempt(*call), calls))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409).json()
    assert loser["code"] == "cases.stale"
    case = e.get(f"/cases/{case_id}", "manager")
    assert case["version"] == 3
    timeline = e.get(f"/cases/{case_id}/detail", "manager")["timeline"]
    assert len(timeline) == 3 and timeline[-1]["action"] in ("accept", "dispatch")


def test_the_slower_writer_is_stale_even_without_a_version(estate: Estate,
                                                            backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers before they read: the version check decides")
    e = estate
    case_id = _dispatched(e)
    db, verbs = e.world.services.db, CaseService()
    slow = db.session()
    try:
        worker = subject_for_user(slow, slow.get(User, e.uid("worker")))
        seen = cases.get(slow, worker, case_id)  # read at version 2, and kept
        assert seen.version == 2
        with db.write() as fast:
            manager = subject_for_user(fast, fast.get(User, e.uid("manager")))
            verbs.transition_case(fast, manager, case_id, "dispatch",
                                  {"assignee": e.uid("worker2")})
        with pytest.raises(CaseStale):
            verbs.transition_case(slow, worker, case_id, "accept")
    finally:
        slow.rollback()
        slow.close()
    assert e.get(f"/cases/{case_id}", "manager")["assignee_id"] == e.uid("worker2")
