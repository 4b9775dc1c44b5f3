"""Fixtures of the sensing tests: the catalogue, fixed clocks, topics, FIWARE samples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shequ.sensing.catalogue import Catalogue, default_catalogue
from shequ.sensing.topics import TopicInfo, parse_topic

NOW = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The built-in device type catalogue."""
    return default_catalogue()


@pytest.fixture
def now() -> datetime:
    """A fixed validation time."""
    return NOW


@pytest.fixture
def topic() -> Callable[[str, str, str], TopicInfo]:
    """Build a parsed topic from community, device and channel."""

    def build(
        community: str = "c1", device: str = "dev-1", channel: str = "telemetry"
    ) -> TopicInfo:
        return parse_topic(f"shequ/v1/{community}/{device}/{channel}")

    return build


@pytest.fixture(scope="session")
def fiware_dir(shared_data: Path) -> Path:
    """The FIWARE Smart Data Models examples in the shared data."""
    path = shared_data / "fiware-sdm"
    if not path.is_dir():
        pytest.skip(f"FIWARE samples not found at {path}")
    return path
