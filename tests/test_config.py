"""Settings: environment first, then shequ.toml, then defaults; production refuses the
development secrets (issue 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shequ.config import Settings

STRONG = {"secret_key": "s" * 40, "data_key": "0f" * 16, "audit_key": "a-real-audit-key"}


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError, match="SHEQU_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="SHEQU_AUDIT_KEY"):
        Settings(environment="production", secret_key="s" * 40, data_key="0f" * 16)
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="production", **{**STRONG, "secret_key": "short"})
    assert Settings(environment="production", **STRONG).environment == "production"


def test_data_key_must_be_an_sm4_key() -> None:
    with pytest.raises(ValidationError, match="32 hexadecimal"):
        Settings(data_key="not-hex")
    with pytest.raises(ValidationError, match="32 hexadecimal"):
        Settings(data_key="00ff")


def test_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "shequ.toml"
    config.write_text('port = 9100\ndatabase_url = "sqlite:///from-toml.db"\n', encoding="utf-8")
    monkeypatch.setenv("SHEQU_CONFIG", str(config))
    monkeypatch.delenv("SHEQU_DATABASE_URL", raising=False)
    monkeypatch.delenv("SHEQU_PORT", raising=False)
    assert Settings().port == 9100
    assert Settings().database_url == "sqlite:///from-toml.db"
    monkeypatch.setenv("SHEQU_PORT", "9200")
    assert Settings().port == 9200
