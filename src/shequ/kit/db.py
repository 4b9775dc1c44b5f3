"""Database base classes, engines and sessions (SQLite embedded, PostgreSQL in production).

The caller owns the transaction: `Database.write()` and `Database.read()` give sessions
whose commit (or rollback) happens in one place; callbacks queued with `after_commit()` run
only once the transaction has committed and are dropped on rollback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonData = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Return UTC-aware values whatever the backend gives."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every table, with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UtcDateTime(), int: BigId}


class IdMixin:
    """An integer surrogate key."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class TimestampMixin:
    """Creation and update times."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SoftDeleteMixin:
    """Rows are hidden, never removed, by the generic ledger layer."""

    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class CommunityMixin:
    """The tenant key carried by every business row (and what Citus distributes by)."""

    @declared_attr
    def community_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(BigId, ForeignKey("communities.id"), index=True)


class LedgerBase(IdMixin, CommunityMixin, TimestampMixin, SoftDeleteMixin):
    """The columns every community ledger row has."""


LIVE = "deleted_at IS NULL"


def live_index(name: str, *columns: str) -> Index:
    """A partial index over live (not soft-deleted) rows, on SQLite and PostgreSQL alike.

    Ledger lists always filter `deleted_at IS NULL`; with the condition in the index, counts
    and sorted pages are answered from the index alone.
    """
    return Index(name, *columns, sqlite_where=text(LIVE), postgresql_where=text(LIVE))


# -- engines and sessions -------------------------------------------------------------------

_AFTER_COMMIT = "after_commit_callbacks"


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run `callback` once this session's transaction commits; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


def _drop_after_commit(session: Session, *_: Any) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def make_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, sqlite_begin: str = "IMMEDIATE"
) -> Engine:
    """An engine tuned for the backend: WAL and explicit BEGIN modes on SQLite."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo, begin=sqlite_begin)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        echo=echo,
    )


def _sqlite_engine(url: str, *, echo: bool, begin: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {begin}")

    return engine


class Database:
    """Engines and session factories; the one owner of transactions.

    On SQLite, writes use a separate engine whose transactions begin IMMEDIATE, so that
    concurrent writers queue on the lock instead of failing on a lock upgrade.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.read_engine = (
            make_engine(url, echo=echo, sqlite_begin="DEFERRED") if self.is_sqlite else self.engine
        )
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        for factory in (self._write, self._read):
            event.listen(factory, "after_commit", _run_after_commit)
            event.listen(factory, "after_soft_rollback", _drop_after_commit)

    def session(self, *, readonly: bool = False) -> Session:
        """A new session; the caller commits or rolls back."""
        session = (self._read if readonly else self._write)()
        session.info["readonly"] = readonly
        return session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session committed when the block ends, rolled back on error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; never commits."""
        session = self.session(readonly=True)
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
