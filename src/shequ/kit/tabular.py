"""CSV and XLSX export, import templates and import parsing for ledgers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import LANGUAGES

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
MAX_IMPORT_ROWS = 50_000


def csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """CSV with a UTF-8 BOM (so spreadsheet programs read Chinese correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(v) for v in row])
        yield buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = "" if value is None else str(value)
    # neutralise spreadsheet formulas (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def xlsx_bytes(header: list[str], rows: Iterable[list[Any]], title: str = "data") -> bytes:
    """A write-only XLSX workbook with one sheet."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "data")
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "@"):
        return "'" + value
    return value


def read_table(filename: str, content: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Header and numbered data rows of an uploaded XLSX or CSV file (row numbers as shown)."""
    name = filename.lower()
    if name.endswith(".csv"):
        return _read_csv(content)
    if name.endswith(".xlsx"):
        return _read_xlsx(content)
    raise ValidationFailed(code="import.bad_file", reason="xlsx / csv")


def _read_csv(content: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(code="import.bad_file", reason="encoding") from exc
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    return _split(rows)


def _read_xlsx(content: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError, Exception) as exc:
        raise ValidationFailed(code="import.bad_file", reason=type(exc).__name__) from exc
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    return _split(rows)


def _split(rows: list[list[Any]]) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    if not rows:
        raise ValidationFailed(code="import.empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    body = [
        (index + 2, row) for index, row in enumerate(rows[1:])
        if any(cell not in (None, "") for cell in row)
    ]
    if not body:
        raise ValidationFailed(code="import.empty")
    if len(body) > MAX_IMPORT_ROWS:
        raise ValidationFailed(code="import.bad_file", reason=f"> {MAX_IMPORT_ROWS} rows")
    return header, body


def header_map(header: list[str], labels: dict[str, dict[str, str]]) -> dict[int, str]:
    """Column index → field name, matching field names or their labels in any language."""
    lookup: dict[str, str] = {}
    for fname, by_lang in labels.items():
        lookup[fname.lower()] = fname
        for lang in LANGUAGES:
            lookup[by_lang[lang].lower()] = fname
    mapping: dict[int, str] = {}
    unknown = []
    for index, title in enumerate(header):
        if not title:
            continue
        key = title.lower().rstrip("*").strip()
        if key in lookup:
            mapping[index] = lookup[key]
        else:
            unknown.append(title)
    if unknown or not mapping:
        raise ValidationFailed(code="import.bad_header", columns=", ".join(unknown) or "—")
    return mapping


def cell_value(value: Any) -> Any:
    """Normalise a spreadsheet cell: blank → None, dates kept, text stripped."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
