"""Routes generated from a `Ledger` declaration: one factory serves every ledger."""

# Annotations here are evaluated at definition time on purpose: each endpoint's body type is
# the ledger's own schema, so the OpenAPI document describes every ledger precisely.

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, create_model
from sqlalchemy.orm import Session

from shequ.kit.errors import PayloadTooLarge
from shequ.kit.i18n import current_language
from shequ.kit.ledger import OPERATORS, AuditSink, Ledger
from shequ.kit.schema import MAX_ID
from shequ.kit.scope import Principal
from shequ.kit.tabular import CSV_TYPE, XLSX_TYPE, csv_stream, xlsx_bytes

_RowId = Path(ge=1, le=MAX_ID)


@dataclass(frozen=True)
class LedgerEnv:
    """The dependencies ledger routes need, supplied by the application."""

    principal: Callable[..., Any]
    read_session: Callable[..., Any]
    write_session: Callable[..., Any]
    audit: AuditSink
    export_max_rows: int = 200_000
    max_upload_bytes: int = 20 * 1024 * 1024


class StatGroup(BaseModel):
    """One group of a statistics answer."""

    key: Any
    label: str
    count: int


class Stats(BaseModel):
    """Counts grouped by one field."""

    by: str
    period: str | None
    groups: list[StatGroup]
    total: int


class EnumOption(BaseModel):
    """One allowed value of an enum field, with its label."""

    value: Any
    label: str


class FieldMeta(BaseModel):
    """How the generic page shows, filters and edits one field."""

    name: str
    label: str
    type: str
    nullable: bool
    filterable: bool
    sortable: bool
    searchable: bool
    creatable: bool
    editable: bool
    required: bool
    personal: bool
    groupable: bool
    enum: list[EnumOption] | None = None
    max_length: int | None = None
    ref: str | None = None


class LedgerMeta(BaseModel):
    """Everything one generic ledger page needs, including what the caller may do."""

    name: str
    label: str
    layer: str
    fields: list[FieldMeta]
    default_sort: list[str]
    operators: list[str]
    actions: dict[str, bool]


class ImportResult(BaseModel):
    """What an import created."""

    created: int
    ids: list[int]


def _list_parameters(ledger: Ledger[Any]) -> list[dict[str, Any]]:
    common = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page_size", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "comma-separated fields, '-' for descending: "
         + ", ".join(ledger.sortable)},
        {"name": "q", "in": "query", "schema": {"type": "string"},
         "description": "keyword over " + (", ".join(ledger.search) or "nothing")},
    ]
    filters = [
        {"name": name, "in": "query", "schema": {"type": "string"},
         "description": f"equals; also {name}__op with op in {', '.join(OPERATORS)}"}
        for name in ("id", "community_id", *ledger.filterable)
    ]
    return common + filters


def ledger_router(ledger: Ledger[Any], env: LedgerEnv) -> APIRouter:
    """List, get, create, update, delete, export, import, stats and metadata for a ledger."""
    router = APIRouter(prefix=f"/{ledger.name}", tags=[ledger.name])
    read_model = ledger.read_schema
    create_model_ = ledger.create_schema
    update_model = ledger.update_schema
    page_model = create_model(
        f"{read_model.__name__}Page",
        items=(list[read_model], ...),  # type: ignore[valid-type]
        total=(int, ...),
        page=(int, ...),
        page_size=(int, ...),
    )
    PrincipalDep = Annotated[Principal, Depends(env.principal)]  # noqa: N806
    ReadDep = Annotated[Session, Depends(env.read_session)]  # noqa: N806
    WriteDep = Annotated[Session, Depends(env.write_session, scope="function")]  # noqa: N806
    # Ledgers that audit unmasked reads get a write session (begun only when used) for it.
    ReadAuditDep = Annotated[Session | None, Depends(  # noqa: N806
        env.write_session if ledger.audit_reads else _no_session, scope="function")]
    extra = {"parameters": _list_parameters(ledger)}

    def audit_reads(writer: Session | None, principal: Principal, action: str,
                    revealed: Iterable[tuple[int, int]]) -> None:
        if writer is not None and revealed:
            ledger.audit_read(writer, principal, env.audit, action, revealed)

    @router.get("", response_model=page_model, openapi_extra=extra,
                summary=f"List {ledger.name}")
    def list_rows(request: Request, principal: PrincipalDep, session: ReadDep,
                  writer: ReadAuditDep) -> Any:
        query = ledger.parse_query(request.query_params)
        page = ledger.list_page(session, principal, query)
        audit_reads(writer, principal, "list", page.revealed)
        return json_response({"items": page.items, "total": page.total, "page": page.page,
                              "page_size": page.page_size})

    @router.get("/meta", response_model=LedgerMeta, summary=f"Describe the {ledger.name} ledger")
    def meta(principal: PrincipalDep) -> dict[str, Any]:
        ledger.scope(principal, "read")
        return {**ledger.metadata(current_language()), "actions": ledger.actions(principal)}

    @router.get("/stats", response_model=Stats, openapi_extra=extra,
                summary=f"Count {ledger.name} by a field")
    def stats(request: Request, principal: PrincipalDep, session: ReadDep,
              by: Annotated[str, Query(max_length=60)],
              period: Annotated[str | None, Query(pattern="^(day|month|year)$")] = None) -> Any:
        query = ledger.parse_query(request.query_params)
        return ledger.stats(session, principal, query, by, period)

    @router.get("/export", openapi_extra=extra, summary=f"Export {ledger.name} as CSV or XLSX",
                response_class=Response)
    def export(request: Request, principal: PrincipalDep, session: ReadDep,
               writer: ReadAuditDep,
               format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
        query = ledger.parse_query(request.query_params)
        lang = current_language()
        revealed: list[tuple[int, int]] = []
        header, rows = ledger.export_table(session, principal, query, format, lang,
                                           env.export_max_rows, revealed)
        audit_reads(writer, principal, "export", revealed)
        name = f"{ledger.name}.{format}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if format == "xlsx":
            return Response(xlsx_bytes(header, rows, ledger.name), media_type=XLSX_TYPE,
                            headers=disposition)
        return StreamingResponse(csv_stream(header, rows), media_type=CSV_TYPE,
                                 headers=disposition)

    @router.get("/{row_id}", response_model=read_model, summary=f"Get one {ledger.name} row")
    def get(row_id: Annotated[int, _RowId], principal: PrincipalDep, session: ReadDep,
            writer: ReadAuditDep) -> Any:
        row = ledger.get(session, principal, row_id)
        if ledger.reveals(principal, row):
            audit_reads(writer, principal, "get", [(row.community_id, row.id)])
        return ledger.present(row, principal)

    if not ledger.writes:
        return router

    @router.get("/import/template", response_class=Response,
                summary=f"Download the {ledger.name} import template")
    def template(principal: PrincipalDep) -> Response:
        ledger.scope(principal, "import")
        return Response(ledger.template(current_language()), media_type=XLSX_TYPE,
                        headers={"Content-Disposition":
                                 f'attachment; filename="{ledger.name}-template.xlsx"'})

    @router.post("/import", response_model=ImportResult,
                 summary=f"Import {ledger.name} from XLSX or CSV (all rows or none)")
    def import_rows(principal: PrincipalDep, session: WriteDep,
                    file: Annotated[UploadFile, File()],
                    community_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Any:
        content = read_upload(file, env.max_upload_bytes)
        return ledger.import_table(session, principal, community_id, file.filename or "",
                                   content, env.audit)

    @router.post("", response_model=read_model, status_code=201,
                 summary=f"Create a {ledger.name} row")
    def create(body: create_model_, principal: PrincipalDep, session: WriteDep) -> Any:  # type: ignore[valid-type]
        row = ledger.create(session, principal, body, env.audit)
        return ledger.present(row, principal)

    @router.patch("/{row_id}", response_model=read_model,
                  summary=f"Change a {ledger.name} row")
    def update(row_id: Annotated[int, _RowId], body: update_model,  # type: ignore[valid-type]
               principal: PrincipalDep, session: WriteDep) -> Any:
        row = ledger.update(session, principal, row_id, body, env.audit)
        return ledger.present(row, principal)

    @router.delete("/{row_id}", status_code=204, response_class=Response,
                   summary=f"Delete a {ledger.name} row (kept for history)")
    def delete(row_id: Annotated[int, _RowId], principal: PrincipalDep,
               session: WriteDep) -> Response:
        ledger.delete(session, principal, row_id, env.audit)
        return Response(status_code=204)

    return router




def _no_session() -> None:
    """No session: this ledger does not audit its reads."""


def json_response(data: Any, status_code: int = 200) -> Response:
    """Serialise already-shaped output once (no second validation pass)."""
    return Response(orjson.dumps(data), status_code=status_code,
                    media_type="application/json")


def read_upload(file: UploadFile, limit: int) -> bytes:
    """Read an upload, refusing it as soon as it passes `limit` bytes."""
    buffer = io.BytesIO()
    while chunk := file.file.read(1024 * 1024):
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise PayloadTooLarge(limit=limit)
    return buffer.getvalue()
