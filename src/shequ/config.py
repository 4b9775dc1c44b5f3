"""Settings from `SHEQU_*` environment variables and an optional `shequ.toml`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (refused in production)
DEV_DATA_KEY = "00112233445566778899aabbccddeeff"
DEV_AUDIT_KEY = "dev-only-audit-key-change-me"


def config_file() -> Path:
    """Path of the optional TOML settings file (`SHEQU_CONFIG`, default `./shequ.toml`)."""
    return Path(os.environ.get("SHEQU_CONFIG", "shequ.toml"))


class Settings(BaseSettings):
    """Platform settings; production refuses the development secrets."""

    model_config = SettingsConfigDict(env_prefix="SHEQU_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/shequ.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    log_json: bool = True

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    data_key: SecretStr = SecretStr(DEV_DATA_KEY)
    audit_key: SecretStr = SecretStr(DEV_AUDIT_KEY)

    access_token_minutes: int = Field(default=30, ge=1)
    refresh_token_days: int = Field(default=7, ge=1)
    idle_timeout_minutes: int = Field(default=30, ge=1)

    password_min_length: int = Field(default=12, ge=8)
    password_min_classes: int = Field(default=3, ge=1, le=4)
    password_max_age_days: int = Field(default=90, ge=0)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    login_rate_per_minute: int = Field(default=30, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)

    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    export_max_rows: int = Field(default=200_000, ge=1)

    web_dir: Path = Path(__file__).resolve().parents[2] / "web" / "dist"
    tiles_dir: Path = Path("var/tiles")
    files_dir: Path = Path("var/files")
    files_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    notify_channels: str = "inapp,log"
    notify_sms_gateway: str = ""
    notify_wechat_gateway: str = ""
    case_type_dirs: str = ""
    mqtt_url: str = ""
    nats_url: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then `shequ.toml`, then defaults."""
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml, file_secret_settings)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        defaults = {
            "secret_key": DEV_SECRET,
            "data_key": DEV_DATA_KEY,
            "audit_key": DEV_AUDIT_KEY,
        }
        weak = [k for k, v in defaults.items() if getattr(self, k).get_secret_value() == v]
        if weak:
            raise ValueError(
                "production mode refuses the development secrets: set "
                + ", ".join(f"SHEQU_{k.upper()}" for k in weak)
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("SHEQU_SECRET_KEY must be at least 32 characters in production")
        return self

    @model_validator(mode="after")
    def _check_data_key(self) -> Settings:
        key = self.data_key.get_secret_value()
        try:
            raw = bytes.fromhex(key)
        except ValueError as exc:
            raise ValueError("SHEQU_DATA_KEY must be 32 hexadecimal characters") from exc
        if len(raw) != 16:
            raise ValueError("SHEQU_DATA_KEY must be 32 hexadecimal characters (an SM4 key)")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is SQLite."""
        return self.database_url.startswith("sqlite")

    def public_summary(self) -> dict[str, Any]:
        """Settings safe to print (no secrets)."""
        return {"environment": self.environment, "database": _redact(self.database_url)}


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
