"""Property-based fuzzing of every documented endpoint: no input may cause a 500."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import World

SKIP = ("/api/v1/auth/logout",)


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_survives_fuzzing(app: Any, world: World) -> None:
    headers = world.headers(world.user("platform_admin", scope="platform"))
    operations = [op for op in _operations(app) if op.path not in SKIP]
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 (collect every failing operation)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:600])
    if failures:
        pytest.fail("\n\n".join(failures))
