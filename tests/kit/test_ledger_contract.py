"""The generic ledger contract, run against every declared ledger: CRUD, filters, sorting,
keyword search, export, import, statistics, metadata, and community scoping."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from shequ import installed
from shequ.kit.ledger import Ledger
from shequ.kit.schema import editable
from tests.conftest import World

installed.import_models()
installed.ledger_modules()
LEDGERS = sorted(Ledger.registry)


def _example(world: World, ledger: Ledger[Any], n: int) -> dict[str, Any]:
    assert ledger.example is not None, f"ledger {ledger.name} declares no example"
    with world.services.db.write() as session:
        data = ledger.example(session, world.community_id, n)
    return {k: (v.value if hasattr(v, "value") else v) for k, v in data.items()}


def _key(world: World, permissions: list[str]) -> dict[str, str]:
    admin = world.user("platform_admin", scope="platform")
    response = world.client.post("/api/v1/api-keys", headers=world.headers(admin), json={
        "name": "contract", "permissions": permissions, "community_ids": [world.community_id]})
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


@pytest.fixture(params=LEDGERS)
def ledger(request: pytest.FixtureRequest) -> Ledger[Any]:
    return Ledger.registry[request.param]


def _seed(world: World, ledger: Ledger[Any], n: int, headers: dict[str, str]) -> dict[str, Any]:
    """One row through the API; a read-only ledger's example inserts it and gives its id."""
    if ledger.writes:
        response = world.client.post(f"/api/v1/{ledger.name}", headers=headers,
                                     json=_example(world, ledger, n))
        assert response.status_code == 201, response.text
    else:
        row_id = _example(world, ledger, n)["id"]
        response = world.client.get(f"/api/v1/{ledger.name}/{row_id}", headers=headers)
        assert response.status_code == 200, response.text
    return dict(response.json())


def _writable(ledger: Ledger[Any]) -> None:
    if not ledger.writes:
        pytest.skip(f"{ledger.name} is written through domain verbs only")


@pytest.fixture
def seeded(world_factory: Any, ledger: Ledger[Any]) -> dict[str, Any]:
    """Three rows in community A and one in community B, created through the API."""
    a, b = world_factory(), world_factory()
    admin = a.user("platform_admin", scope="platform")
    h = a.headers(admin)
    rows = [_seed(world, ledger, n, h) for world, n in ((a, 0), (a, 1), (a, 2), (b, 0))]
    return {"a": a, "b": b, "admin": h, "rows": rows[:3], "other": rows[3]}


def test_create_get_update_delete(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    _writable(ledger)
    a, h, row = seeded["a"], seeded["admin"], seeded["rows"][0]
    url = f"/api/v1/{ledger.name}"
    got = a.client.get(f"{url}/{row['id']}", headers=h)
    assert got.status_code == 200 and got.json() == row
    change = {k: v for k, v in _example(a, ledger, 7).items()
              if k in editable(ledger.update_schema)}
    updated = a.client.patch(f"{url}/{row['id']}", headers=h, json=change)
    assert updated.status_code == 200, updated.text
    for key, value in change.items():
        assert updated.json()[key] == value, key
    assert a.client.delete(f"{url}/{row['id']}", headers=h).status_code == 204
    assert a.client.get(f"{url}/{row['id']}", headers=h).status_code == 404
    listed = a.client.get(f"{url}?community_id={a.community_id}", headers=h).json()
    assert row["id"] not in {r["id"] for r in listed["items"]}
    assert listed["total"] == 2


def test_other_communities_are_invisible(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    a, other = seeded["a"], seeded["other"]
    key = _key(a, [f"{ledger.permission}:read", f"{ledger.permission}:create",
                   f"{ledger.permission}:update", f"{ledger.permission}:delete"])
    url = f"/api/v1/{ledger.name}"
    listed = a.client.get(url, headers=key).json()
    assert {r["community_id"] for r in listed["items"]} == {a.community_id}
    assert listed["total"] == 3
    assert a.client.get(f"{url}/{other['id']}", headers=key).status_code == 404
    if not ledger.writes:
        return
    assert a.client.patch(f"{url}/{other['id']}", headers=key, json={}).status_code == 404
    assert a.client.delete(f"{url}/{other['id']}", headers=key).status_code == 404
    foreign = _example(seeded["b"], ledger, 5)
    created = a.client.post(url, headers=key, json=foreign)
    assert created.status_code == 403, created.text
    assert created.json()["code"] == "resource.out_of_scope"


def test_filters_sorting_and_keyword(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    a, h, rows = seeded["a"], seeded["admin"], seeded["rows"]
    url = f"/api/v1/{ledger.name}"
    base = f"community_id={a.community_id}"
    for name in ledger.filterable:
        value = rows[0][name]
        if value is None or isinstance(value, dict | list):
            continue
        op = "__gte" if ledger.fields[name].type_name in ("datetime", "date") else ""
        text = str(value).lower() if isinstance(value, bool) else str(value)
        response = a.client.get(url, headers=h, params={"community_id": a.community_id,
                                                         f"{name}{op}": text})
        assert response.status_code == 200, (name, response.text)
        assert rows[0]["id"] in {r["id"] for r in response.json()["items"]}, name
        if not op:
            assert all(r[name] == value for r in response.json()["items"]), name
    for name in ledger.sortable:
        for direction in ("", "-"):
            response = a.client.get(f"{url}?{base}&sort={direction}{name}", headers=h)
            assert response.status_code == 200, (name, response.text)
            values = [r[name] for r in response.json()["items"] if r[name] is not None]
            if values and all(isinstance(v, int | float) for v in values):
                assert values == sorted(values, reverse=direction == "-"), name
    if ledger.search:
        needle = str(rows[1][ledger.search[0]])[:6]
        found = a.client.get(url, headers=h, params={"community_id": a.community_id,
                                                     "q": needle}).json()
        assert rows[1]["id"] in {r["id"] for r in found["items"]}
    page = a.client.get(f"{url}?{base}&page=2&page_size=2", headers=h).json()
    assert len(page["items"]) == 1 and page["total"] == 3


def test_export_csv_and_xlsx(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    a, h = seeded["a"], seeded["admin"]
    url = f"/api/v1/{ledger.name}/export?community_id={a.community_id}"
    text = a.client.get(url + "&format=csv", headers=h).content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert len(table) == 4
    assert table[0] == [ledger.label_of(n, "zh-CN") for n in ledger.read_schema.model_fields]
    xlsx = a.client.get(url + "&format=xlsx", headers=h)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet.max_row == 4


def test_import_all_or_nothing(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    _writable(ledger)
    a, h = seeded["a"], seeded["admin"]
    url = f"/api/v1/{ledger.name}"
    template = load_workbook(io.BytesIO(a.client.get(f"{url}/import/template",
                                                     headers=h).content)).worksheets[0]
    header = [c.value for c in template[1]]
    fields = list(ledger.import_labels())
    assert len(header) == len(fields)

    def workbook(rows: list[dict[str, Any]]) -> bytes:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(header)
        for row in rows:
            sheet.append([json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
                          for v in (row.get(f) for f in fields)])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    good = [_example(a, ledger, n) for n in (20, 21)]
    bad = [*good, {f: "💥" * 300 for f in fields}]
    before = a.client.get(f"{url}?community_id={a.community_id}", headers=h).json()["total"]
    files = {"file": ("rows.xlsx", workbook(bad), "application/octet-stream")}
    refused = a.client.post(f"{url}/import?community_id={a.community_id}", headers=h,
                            files=files)
    assert refused.status_code == 422
    assert refused.json()["code"] == "import.rows_failed"
    assert {e["row"] for e in refused.json()["errors"]} == {4}
    after = a.client.get(f"{url}?community_id={a.community_id}", headers=h).json()["total"]
    assert after == before
    files = {"file": ("rows.xlsx", workbook(good), "application/octet-stream")}
    accepted = a.client.post(f"{url}/import?community_id={a.community_id}", headers=h,
                             files=files)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["created"] == 2
    total = a.client.get(f"{url}?community_id={a.community_id}", headers=h).json()["total"]
    assert total == before + 2


def test_statistics_and_metadata(seeded: dict[str, Any], ledger: Ledger[Any]) -> None:
    a, h = seeded["a"], seeded["admin"]
    url = f"/api/v1/{ledger.name}"
    for name in (*ledger.filterable, "created_at"):
        kind = ledger.fields[name].type_name
        if kind in ("json", "number"):
            continue
        period = "&period=day" if kind in ("date", "datetime") else ""
        stats = a.client.get(f"{url}/stats?by={name}{period}&community_id={a.community_id}",
                             headers=h)
        assert stats.status_code == 200, (name, stats.text)
        assert stats.json()["total"] == 3
    meta = a.client.get(f"{url}/meta", headers={**h, "Accept-Language": "en"}).json()
    assert [f["name"] for f in meta["fields"]] == list(ledger.read_schema.model_fields)
    assert meta["label"] == ledger.label[1]
    enums = [f for f in meta["fields"] if f["type"] == "enum"]
    assert all(f["enum"] for f in enums)
