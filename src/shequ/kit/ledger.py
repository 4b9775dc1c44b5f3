"""The generic ledger layer: declare a resource once, get list, get, create, update, delete,
export, import, statistics and metadata, all scoped by community, building and household.

A `Ledger` is a declaration plus named hooks (`prepare`, `present`) that a domain package
may override; the routes in `shequ.kit.ledger_api` are generated from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ.kit import features, i18n
from shequ.kit.db import utcnow
from shequ.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ShequError,
    ValidationFailed,
)
from shequ.kit.fields import FieldInfo, enum_label, model_fields, parse_value
from shequ.kit.schema import editable
from shequ.kit.scope import Principal, Scope, ScopeColumns, row_in_scope, scope_filter
from shequ.kit.tabular import cell_value, header_map, read_table, xlsx_bytes

M = TypeVar("M")

RESERVED = frozenset({"page", "page_size", "sort", "q", "format", "by", "period"})
OPERATORS = ("in", "gte", "lte", "gt", "lt", "ne", "contains", "isnull")
MAX_PAGE_SIZE = 500


class AuditSink(Protocol):
    """Where ledger writes are recorded (the platform's audit log)."""

    def __call__(
        self, session: Session, principal: Principal, action: str, resource: str,
        resource_id: Any, community_id: int | None, before: Any, after: Any,
    ) -> None:
        """Record one write."""


@dataclass(frozen=True)
class Page:
    """One page of rows and the total that matched."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    revealed: tuple[tuple[int, int], ...] = ()
    """(community id, row id) of rows shown with personal fields unmasked (`audit_reads`)."""


@dataclass(frozen=True)
class Query:
    """A parsed list request: filters, keyword, sort and page."""

    filters: tuple[ColumnElement[bool], ...] = ()
    keyword: str | None = None
    sort: tuple[str, ...] = ()
    page: int = 1
    page_size: int = 50


@dataclass
class Ledger(Generic[M]):
    """A resource declared once: model, schemas, fields, permissions and zh/en labels."""

    name: str
    model: type[M]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    read_schema: type[BaseModel]
    label: tuple[str, str]
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    filterable: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ("id", "created_at", "updated_at")
    search: tuple[str, ...] = ()
    default_sort: tuple[str, ...] = ("-id",)
    permission: str = ""
    building_column: str | None = None
    household_column: str | None = None
    public_within_community: bool = False
    personal: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    layer: str = "platform"
    refs: Mapping[str, str] = field(default_factory=dict)
    """Reference fields → the ledger they point at (the portal shows a picker)."""
    writes: bool = True
    """False for ledgers written only through domain verbs (cases, alarms): the generic
    create, update, delete and import routes are not mounted; reads, export and stats are."""
    audit_reads: bool = False
    """Record every read that shows personal fields unmasked (list, get, export): one audit
    entry per community naming the rows revealed (6.8.1)."""
    example: Callable[[Session, int, int], dict[str, Any]] | None = None
    """Valid create input number n in a community (creating prerequisites as needed); the
    generic contract tests exercise every ledger with it."""

    registry: ClassVar[dict[str, Ledger[Any]]] = {}

    def __post_init__(self) -> None:
        self.permission = self.permission or self.name
        self.fields: dict[str, FieldInfo] = model_fields(self.model)
        for name in (*self.filterable, *self.sortable, *self.search):
            if name not in self.fields:
                raise ValueError(f"ledger {self.name}: unknown field {name!r}")
        i18n.register(f"ledger.{self.name}", *self.label)
        for fname, (zh, en) in self.labels.items():
            i18n.register(f"ledger.{self.name}.{fname}", zh, en)

    # -- registry ------------------------------------------------------------------------

    def register(self) -> Ledger[M]:
        """Add this ledger to the registry that the API and the portal are built from."""
        if self.name in Ledger.registry:
            raise ValueError(f"ledger {self.name!r} registered twice")
        Ledger.registry[self.name] = self
        features.provide(f"ledger:{self.name}")
        return self

    # -- hooks -----------------------------------------------------------------------------

    def prepare(self, session: Session, principal: Principal, data: dict[str, Any],
                current: M | None) -> dict[str, Any]:
        """Check and complete input before it is written (override per ledger)."""
        return data

    def after_write(self, session: Session, principal: Principal, row: M) -> None:
        """React to a created, changed or deleted row in the same transaction (override)."""

    def present(self, row: M, principal: Principal) -> dict[str, Any]:
        """The row as the principal may see it: personal fields masked without permission."""
        data = self.read_schema.model_validate(row).model_dump(mode="json")
        if self.personal and not self._may_see_personal(principal, row):
            for name, mask in self.personal.items():
                if name in data:
                    data[name] = mask(data[name])
        return data

    def desensitise(self, row: M, data: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Shape one exported row (override for per-field export policies, 6.8.1.3)."""
        return data

    def audit_copy(self, row: M) -> dict[str, Any]:
        """The row as the audit trail keeps it (override to keep secrets out of the log)."""
        return self.present(row, _Trusted())

    def reveals(self, principal: Principal, row: M) -> bool:
        """Whether showing this row to the principal is an audited unmasked read."""
        return (self.audit_reads and bool(self.personal) and not isinstance(principal, _Trusted)
                and self._may_see_personal(principal, row))

    def audit_read(self, session: Session, principal: Principal, audit: AuditSink, action: str,
                   revealed: Iterable[tuple[int, int]]) -> None:
        """Record unmasked reads: one entry per community with the row ids revealed."""
        by_community: dict[int, list[int]] = {}
        for community_id, row_id in revealed:
            by_community.setdefault(community_id, []).append(row_id)
        for community_id, ids in sorted(by_community.items()):
            audit(session, principal, f"{self.name}.read_personal", self.name,
                  ids[0] if len(ids) == 1 else None, community_id, None,
                  {"via": action, "count": len(ids), "ids": ids[:1000]})

    def _may_see_personal(self, principal: Principal, row: M) -> bool:
        scope = principal.scope_for(f"{self.permission}:personal")
        if scope.empty:
            return False
        return scope.unrestricted or row_in_scope(scope, *self._keys(row), self._columns)

    @property
    def _columns(self) -> ScopeColumns:
        cols = self.__dict__.get("_scope_columns")
        if cols is None:
            cols = self.__dict__["_scope_columns"] = self.scope_columns()
        return cols

    # -- scoping ---------------------------------------------------------------------------

    def scope_columns(self) -> ScopeColumns:
        """The model's community, building and household columns."""
        table = self.model.__table__  # type: ignore[attr-defined]
        return ScopeColumns(
            community=table.c.community_id,
            building=table.c[self.building_column] if self.building_column else None,
            household=table.c[self.household_column] if self.household_column else None,
            public_within_community=self.public_within_community,
        )

    def scope(self, principal: Principal, action: str) -> Scope:
        """The principal's scope for an action; 403 when it reaches nothing."""
        scope = principal.scope_for(f"{self.permission}:{action}")
        if scope.empty:
            raise Forbidden(code="auth.missing_permission",
                            permission=f"{self.permission}:{action}")
        return scope

    def _keys(self, row: Any) -> tuple[int | None, int | None, int | None]:
        return (
            row.community_id,
            getattr(row, self.building_column) if self.building_column else None,
            getattr(row, self.household_column) if self.household_column else None,
        )

    def authorise(self, principal: Principal, action: str, row: M) -> None:
        """403 unless the principal may take `action` on this (new or changed) row; for
        domain verbs that write rows themselves."""
        self._check_scope(self.scope(principal, action), row)

    def visible(self, principal: Principal, action: str = "read") -> Select[Any]:
        """A SELECT of the live rows the principal may see."""
        model: Any = self.model
        return select(model).where(
            model.deleted_at.is_(None), scope_filter(self.scope(principal, action),
                                                     self._columns)
        )

    # -- reads -----------------------------------------------------------------------------

    def parse_query(self, params: Mapping[str, str], extra: frozenset[str] = frozenset()) -> Query:
        """Turn query parameters into filters, keyword, sort and page; 400 on anything unknown."""
        filters = []
        for key, raw in params.items():
            if key in RESERVED or key in extra:
                continue
            filters.append(self._filter(key, raw))
        page = _int_param(params, "page", 1, 1, 1_000_000)
        size = _int_param(params, "page_size", 50, 1, MAX_PAGE_SIZE)
        sort = tuple(s for s in (params.get("sort") or "").split(",") if s) or self.default_sort
        for item in sort:
            if item.lstrip("-") not in self.sortable:
                raise BadRequest(code="request.unknown_sort", name=item.lstrip("-")[:60])
        keyword = (params.get("q") or "").strip()[:100] or None
        if keyword and "\x00" in keyword:
            raise BadRequest(code="request.bad_filter", name="q", value="␀")
        return Query(tuple(filters), keyword, sort, page, size)

    def _filter(self, key: str, raw: str) -> ColumnElement[bool]:
        name, _, op = key.partition("__")
        allowed = {"community_id", "id", *self.filterable}
        if name not in allowed or (op and op not in OPERATORS):
            raise BadRequest(code="request.unknown_parameter", name=key[:60])
        info = self.fields[name]
        column = self.model.__table__.c[name]  # type: ignore[attr-defined]
        if op == "isnull":
            flag = parse_value(FieldInfo(name, bool, False), raw, key)
            return column.is_(None) if flag else column.is_not(None)
        if op == "in":
            values = [parse_value(info, part, key) for part in raw.split(",")[:200] if part]
            return column.in_(values)
        if op == "contains":
            parse_value(FieldInfo(name, str, False), raw, key)
            return column.ilike(f"%{_escape_like(raw[:100])}%", escape="\\")
        value = parse_value(info, raw, key)
        comparisons: dict[str, Callable[[Any], ColumnElement[bool]]] = {
            "": column.__eq__, "ne": column.__ne__, "gte": column.__ge__,
            "lte": column.__le__, "gt": column.__gt__, "lt": column.__lt__,
        }
        return comparisons[op](value)

    def _where(self, stmt: Select[Any], query: Query) -> Select[Any]:
        if query.filters:
            stmt = stmt.where(*query.filters)
        if query.keyword and self.search:
            pattern = f"%{_escape_like(query.keyword)}%"
            table = self.model.__table__  # type: ignore[attr-defined]
            from sqlalchemy import or_

            stmt = stmt.where(or_(*(table.c[f].ilike(pattern, escape="\\") for f in self.search)))
        return stmt

    def _ordered(self, stmt: Select[Any], query: Query) -> Select[Any]:
        table = self.model.__table__  # type: ignore[attr-defined]
        order = [table.c[s.lstrip("-")].desc() if s.startswith("-") else table.c[s]
                 for s in query.sort]
        if not any(s.lstrip("-") == "id" for s in query.sort):
            order.append(table.c.id.desc() if query.sort[0].startswith("-") else table.c.id)
        return stmt.order_by(*order)

    def list_page(self, session: Session, principal: Principal, query: Query) -> Page:
        """One page of visible rows matching the query, with the total."""
        base = self._where(self.visible(principal), query)
        total = session.scalar(base.with_only_columns(func.count()).order_by(None)) or 0
        stmt = self._ordered(base, query).limit(query.page_size).offset(
            (query.page - 1) * query.page_size)
        rows = session.scalars(stmt).all()
        items = [self.present(row, principal) for row in rows]
        revealed = tuple((r.community_id, r.id) for r in rows if self.reveals(principal, r))
        return Page(items, total, query.page, query.page_size, revealed)

    def rows(self, session: Session, principal: Principal, query: Query, limit: int,
             action: str = "export") -> Iterator[M]:
        """Every visible row matching the query (for export), at most `limit`."""
        self.scope(principal, action)
        base = self._where(self.visible(principal), query)
        total = session.scalar(base.with_only_columns(func.count()).order_by(None)) or 0
        if total > limit:
            raise BadRequest(code="export.too_many", limit=limit)
        yield from session.scalars(self._ordered(base, query).execution_options(yield_per=1000))

    def get(self, session: Session, principal: Principal, row_id: int,
            action: str = "read") -> M:
        """One visible row; 404 when it does not exist or lies outside the scope."""
        model: Any = self.model
        row = session.scalars(self.visible(principal, action).where(model.id == row_id)).first()
        if row is None:
            raise NotFound()
        return row

    def stats(self, session: Session, principal: Principal, query: Query, by: str,
              period: str | None) -> dict[str, Any]:
        """Counts of visible rows grouped by an enum, boolean, text or date field."""
        self.scope(principal, "stats")
        info = self.fields.get(by)
        if info is None or not self._groupable(by):
            raise BadRequest(code="stats.bad_field", name=by[:60])
        column = self.model.__table__.c[by]  # type: ignore[attr-defined]
        is_time = info.type_name in ("date", "datetime")
        if is_time:
            key = period_key(session, column, period or "month")
        elif period:
            raise BadRequest(code="stats.bad_field", name="period")
        else:
            key = column
        base = self._where(self.visible(principal, "stats"), query)
        grouped = base.with_only_columns(key.label("key"), func.count().label("count"))
        grouped = grouped.group_by(key).order_by(key)
        groups = []
        for k, n in session.execute(grouped):
            groups.append({"key": k, "label": self._group_label(info, k), "count": n})
        return {"by": by, "period": period if is_time else None, "groups": groups,
                "total": sum(g["count"] for g in groups)}

    def _group_label(self, info: FieldInfo, key: Any) -> str:
        if key is None:
            return "—"
        if info.enum is not None:
            return enum_label(info.enum, key)
        return str(key)

    # -- writes ----------------------------------------------------------------------------

    def create(self, session: Session, principal: Principal, body: BaseModel,
               audit: AuditSink) -> M:
        """Validate, scope-check, insert and audit one row."""
        scope = self.scope(principal, "create")
        row = self._insert(session, principal, body, scope)
        audit(session, principal, f"{self.name}.create", self.name, row.id,  # type: ignore[attr-defined]
              row.community_id, None, self.audit_copy(row))  # type: ignore[attr-defined]
        return row

    def _insert(self, session: Session, principal: Principal, body: BaseModel,
                scope: Scope) -> M:
        data = body.model_dump()
        data["community_id"] = self._community_for(scope, data.get("community_id"))
        data = self.prepare(session, principal, data, None)
        row = self.model(**data)
        self._check_scope(scope, row)
        self._flush(session, row)
        self.after_write(session, principal, row)
        return row

    def import_table(self, session: Session, principal: Principal, community_id: int | None,
                     filename: str, content: bytes, audit: AuditSink) -> dict[str, Any]:
        """Import every row of an XLSX/CSV file, or none: a row-by-row report on failure."""
        scope = self.scope(principal, "import")
        self.scope(principal, "create")
        header, rows = read_table(filename, content)
        mapping = header_map(header, self.import_labels())
        community = self._community_for(scope, community_id)
        errors: list[dict[str, Any]] = []
        valid: list[tuple[int, BaseModel]] = []
        for number, cells in rows:
            data = {name: self._import_value(name, cell_value(cells[i]) if i < len(cells) else None)
                    for i, name in mapping.items()}
            data = {k: v for k, v in data.items() if v is not None}
            data["community_id"] = community
            try:
                valid.append((number, self.create_schema.model_validate(data)))
            except ValidationError as exc:
                errors += validation_errors(exc, number)
        ids: list[int] = []
        if not errors:
            for number, body in valid:
                try:
                    ids.append(self._insert(session, principal, body, scope).id)  # type: ignore[attr-defined]
                except ShequError as exc:
                    errors.append({"row": number, "field": None, "code": exc.code,
                                   "message": exc.user_message()})
        if errors:
            raise ValidationFailed(code="import.rows_failed",
                                   count=len({e["row"] for e in errors}), errors=errors)
        audit(session, principal, f"{self.name}.import", self.name, None, community, None,
              {"file": filename[:200], "count": len(ids), "ids": ids[:1000]})
        return {"created": len(ids), "ids": ids}

    def import_labels(self) -> dict[str, dict[str, str]]:
        """Importable fields with their labels in every language (import template columns)."""
        names = [f for f in self.create_schema.model_fields if f != "community_id"]
        return {f: {lang: self.label_of(f, lang) for lang in i18n.LANGUAGES} for f in names}

    def template(self, lang: str) -> bytes:
        """An empty XLSX import template; required columns are marked with *."""
        fields = self.create_schema.model_fields
        header = [self.label_of(f, lang) + ("*" if fields[f].is_required() else "")
                  for f in self.import_labels()]
        return xlsx_bytes(header, [], title=i18n.t(f"ledger.{self.name}", lang))

    def _import_value(self, name: str, value: Any) -> Any:
        info = self.fields.get(name)
        if value is None or info is None:
            return value
        if info.type_name == "json" and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        if info.enum is None:
            return value
        for member in info.enum:
            if value == member.value or any(
                value == enum_label(info.enum, member, lang) for lang in i18n.LANGUAGES
            ):
                return member.value
        return value

    def export_table(self, session: Session, principal: Principal, query: Query, fmt: str,
                     lang: str, limit: int, revealed: list[tuple[int, int]] | None = None,
                     ) -> tuple[list[str], Iterator[list[Any]]]:
        """Header and rows of an export, enum values shown by their labels, desensitised
        by `desensitise`; rows shown unmasked are appended to `revealed` when given."""
        names = list(self.read_schema.model_fields)
        header = [self.label_of(n, lang) for n in names]
        cells = []
        for row in self.rows(session, principal, query, limit):
            data = self.desensitise(row, self.present(row, principal), principal)
            if revealed is not None and self.reveals(principal, row):
                revealed.append((row.community_id, row.id))  # type: ignore[attr-defined]
            cells.append([self._export_value(n, data.get(n), lang) for n in names])
        return header, iter(cells)

    def _export_value(self, name: str, value: Any, lang: str) -> Any:
        info = self.fields.get(name)
        if info is not None and info.enum is not None and value is not None:
            return enum_label(info.enum, value, lang)
        return value

    def update(self, session: Session, principal: Principal, row_id: int, body: BaseModel,
               audit: AuditSink) -> M:
        """Apply a partial change, re-check the scope, audit before and after."""
        scope = self.scope(principal, "update")
        row = self.get(session, principal, row_id, "update")
        before = self.audit_copy(row)
        changes = self.prepare(session, principal, body.model_dump(exclude_unset=True), row)
        for key, value in changes.items():
            setattr(row, key, value)
        self._check_scope(scope, row)
        self._flush(session, row)
        self.after_write(session, principal, row)
        audit(session, principal, f"{self.name}.update", self.name, row_id,
              row.community_id, before, self.audit_copy(row))  # type: ignore[attr-defined]
        return row

    def delete(self, session: Session, principal: Principal, row_id: int,
               audit: AuditSink) -> None:
        """Soft-delete a row (it stays for history) and audit it."""
        row: Any = self.get(session, principal, row_id, "delete")
        before = self.audit_copy(row)
        row.deleted_at = utcnow()
        session.flush()
        self.after_write(session, principal, row)
        audit(session, principal, f"{self.name}.delete", self.name, row_id,
              row.community_id, before, None)

    def _community_for(self, scope: Scope, requested: int | None) -> int:
        if requested is not None:
            return requested
        reachable = scope.community_ids()
        if reachable is not None and len(reachable) == 1:
            return next(iter(reachable))
        raise ValidationFailed(code="resource.community_required",
                               errors=[{"field": "community_id", "code": "validation.missing"}])

    def _check_scope(self, scope: Scope, row: Any) -> None:
        if not row_in_scope(scope, *self._keys(row), self.scope_columns()):
            raise Forbidden(code="resource.out_of_scope")

    def _flush(self, session: Session, row: Any) -> None:
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise Conflict(code="resource.duplicate", field=_constraint_field(exc)) from exc

    # -- metadata --------------------------------------------------------------------------

    def label_of(self, name: str, lang: str | None = None) -> str:
        """The translated label of a field."""
        key = f"ledger.{self.name}.{name}"
        if i18n.has(key):
            return i18n.t(key, lang)
        common = f"field.{name}"
        return i18n.t(common, lang) if i18n.has(common) else name

    def _groupable(self, name: str) -> bool:
        info = self.fields.get(name)
        allowed = {"community_id", *self.filterable, "created_at"}
        return info is not None and name in allowed and info.type_name not in ("json", "number")

    def actions(self, principal: Principal) -> dict[str, bool]:
        """Which generic actions this principal may take somewhere on this ledger."""
        writes = ("create", "update", "delete", "import")
        return {name: (self.writes or name not in writes)
                and not principal.scope_for(f"{self.permission}:{name}").empty
                for name in ("read", *writes, "export", "stats")}

    def metadata(self, lang: str) -> dict[str, Any]:
        """Fields, types, enums and labels: everything one generic page needs."""
        create_fields = self.create_schema.model_fields
        update_fields = editable(self.update_schema)
        fields = []
        for name, finfo in self.read_schema.model_fields.items():
            info = self.fields.get(name)
            entry: dict[str, Any] = {
                "name": name,
                "label": self.label_of(name, lang),
                "type": info.type_name if info else "json",
                "nullable": info.nullable if info else True,
                "filterable": name in self.filterable or name in ("id", "community_id"),
                "sortable": name in self.sortable,
                "searchable": name in self.search,
                "creatable": name in create_fields,
                "editable": name in update_fields,
                "required": name in create_fields and create_fields[name].is_required(),
                "personal": name in self.personal,
                "groupable": self._groupable(name),
            }
            if name in self.refs:
                entry["ref"] = self.refs[name]
            if info and info.enum is not None:
                entry["enum"] = [{"value": e.value, "label": enum_label(info.enum, e, lang)}
                                 for e in info.enum]
            max_len = _max_length(create_fields.get(name) or finfo)
            if max_len:
                entry["max_length"] = max_len
            fields.append(entry)
        return {
            "name": self.name,
            "label": i18n.t(f"ledger.{self.name}", lang),
            "layer": self.layer,
            "fields": fields,
            "default_sort": list(self.default_sort),
            "operators": list(OPERATORS),
        }


class _Trusted:
    """A principal that sees everything unmasked: used for the audit trail's copies."""

    actor_id = None
    actor_name = "audit"

    def scope_for(self, permission: str) -> Scope:
        from shequ.kit.scope import ScopeClause

        return Scope((ScopeClause(None),))


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(code="request.bad_filter", name=name, value=raw[:40]) from exc
    if not low <= value <= high:
        raise BadRequest(code="request.bad_filter", name=name, value=raw[:40])
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _constraint_field(exc: IntegrityError) -> str:
    """The last column of the violated unique key (SQLite and PostgreSQL wordings)."""
    text = str(exc.orig)
    if "Key (" in text:  # PostgreSQL: DETAIL:  Key (floor_id, number)=(3, 101) already exists.
        return text.split("Key (", 1)[1].split(")", 1)[0].rsplit(",", maxsplit=1)[-1].strip()
    if "failed: " in text:  # SQLite: UNIQUE constraint failed: rooms.floor_id, rooms.number
        return text.split("failed: ", 1)[1].rsplit(",", maxsplit=1)[-1].strip().split(".")[-1]
    return "?"


def _max_length(finfo: Any) -> int | None:
    for meta in getattr(finfo, "metadata", []):
        value = getattr(meta, "max_length", None)
        if value:
            return int(value)
    return None


def period_key(session: Session, column: Any, period: str) -> ColumnElement[Any]:
    """A text key (YYYY, YYYY-MM or YYYY-MM-DD) for grouping a date or time column."""
    formats = {"year": ("%Y", "YYYY"), "month": ("%Y-%m", "YYYY-MM"),
               "day": ("%Y-%m-%d", "YYYY-MM-DD")}
    if period not in formats:
        raise BadRequest(code="request.bad_filter", name="period", value=period[:20])
    sqlite_fmt, pg_fmt = formats[period]
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime(sqlite_fmt, column)
    return func.to_char(column, pg_fmt)


def validation_errors(exc: ValidationError, row: int | None = None) -> list[dict[str, Any]]:
    """Pydantic errors as translated, field-named entries."""
    return [
        {
            **({"row": row} if row is not None else {}),
            "field": ".".join(str(p) for p in err["loc"]) or None,
            "code": err["type"],
            "message": translate_pydantic(err),
        }
        for err in exc.errors()
    ]


def translate_pydantic(err: Mapping[str, Any]) -> str:
    """A pydantic error in the current language."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return i18n.t("validation.missing")
    if kind == "extra_forbidden":
        return i18n.t("validation.extra_forbidden")
    if kind in ("string_too_long", "too_long"):
        return i18n.t("validation.too_long", limit=ctx.get("max_length", "?"))
    if kind in ("string_too_short", "too_short"):
        return i18n.t("validation.too_short", limit=ctx.get("min_length", "?"))
    if kind in {"enum", "literal_error"}:
        return i18n.t("validation.enum", expected=ctx.get("expected", ""))
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return i18n.t("validation.type", expected=kind.split("_", maxsplit=1)[0])
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return i18n.t("validation.range")
    if kind == "value_error":
        return i18n.t("validation.value", reason=str(ctx.get("error", err.get("msg", ""))))
    if kind == "string_pattern_mismatch":
        return i18n.t("validation.format")
    if i18n.has(kind):  # custom errors whose type is a message key
        return i18n.t(kind, **ctx)
    return str(err.get("msg", kind))
