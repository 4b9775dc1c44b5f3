"""Shared fixtures: paths, service requirements, the database under test, the app, users."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def require_service(name: str, reason: str) -> None:
    """Skip when a service is absent; fail instead when SHEQU_REQUIRE_SERVICES=1 (CI)."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("SHEQU_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (SHEQU_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The third-party sample data beside the repository (../shared/data)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared sample data not found at {path}")
    return path
