"""CIM import and export speed (issue 4): register, CityJSON, IFC, 3D Tiles.

Prints one JSON object with `register_import_s` (3,000 households), `cityjson_import_s`
(a CityJSON 2.0 file of about 500 city objects), `ifc_import_s` (the duplex sample),
`tiles_s` (3D Tiles for the demo community) and `tileset_bytes`.
Usage: python bench/cim.py [--quick] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openpyxl import Workbook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database


def register_file(households: int) -> bytes:
    """A register of 10 buildings × 3 units × 4 households per floor."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["楼栋编号", "单元", "楼层", "房号", "用途", "状态", "建筑面积", "套内面积"])
    floors = max(1, households // (10 * 3 * 4))
    for b in range(1, 11):
        for u in range(1, 4):
            for f in range(1, floors + 1):
                for h in range(1, 5):
                    sheet.append([f"{b}幢", u, f, f"{f}{h:02d}", "住宅", "自住", 89.0, 70.0])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def cityjson_file(objects: int) -> bytes:
    """A CityJSON 2.0 export of procedural buildings with about `objects` city objects."""
    from shequ.cim.io.cityjson_out import to_cityjson
    from shequ.cim.io.procedural import BuildingSpec, community_scene

    specs, total, n = [], 0, 0
    while total < objects:
        x = (n % 6) * 45.0
        y = (n // 6) * 40.0
        spec = BuildingSpec(id=f"B{n + 1}", name=f"{n + 1}号楼",
                            footprint=[(x, y), (x + 32, y), (x + 32, y + 12), (x, y + 12)],
                            floors=6, units=2, households_per_floor=2)
        specs.append(spec)
        total += 1 + 2 + 12 + 24
        n += 1
    scene = community_scene(specs, (120.13, 30.29, 0.0))
    return json.dumps(to_cityjson(scene)).encode()


def timed(label: str, results: dict[str, Any], fn: Any) -> Any:
    started = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - started, 3)
    return value


def run(kind: str, quick: bool) -> dict[str, Any]:
    from shequ.api.app import build_services
    from shequ.cim import imports
    from shequ.cim.export import ensure_tiles
    from shequ.config import Settings
    from shequ.demo import load_foundation
    from shequ.demo.community import duplex_ifc, load_cim
    from shequ.migrations import upgrade
    from shequ.platform.scoping import SYSTEM

    results: dict[str, Any] = {}
    households = 600 if quick else 3000
    register = register_file(households)
    city = cityjson_file(120 if quick else 500)
    results["cityjson_objects"] = len(json.loads(city)["CityObjects"])
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        services = build_services(Settings(database_url=url))
        upgrade(services.db.engine)
        with services.db.write() as session:
            services.platform.sync_roles(session)
            target = services.platform.create_community(session, SYSTEM, "BENCH", "压测")
            other = services.platform.create_community(session, SYSTEM, "BENCH2", "压测2")
        with services.db.write() as session:
            timed("register_import_s", results, lambda: imports.import_register(
                session, session.merge(target), "r.xlsx", register))
        results["register_households"] = households // 120 * 120
        with services.db.write() as session:
            timed("cityjson_import_s", results, lambda: imports.import_file(
                session, session.merge(other), "cityjson", "b.city.json", city))
        ifc = duplex_ifc()
        with services.db.write() as session:
            timed("ifc_import_s", results, lambda: imports.import_file(
                session, session.merge(other), "ifc", "duplex.ifc", ifc,
                place_at=(120.1300, 30.2930)))
        with services.db.write() as session:
            demo = load_foundation(session, services.platform)
            load_cim(session, services.platform, demo)
            demo_id = demo.id
        with services.db.write() as session:
            folder = timed("tiles_s", results, lambda: ensure_tiles(
                session, demo_id, Path(tmp) / "tiles"))
        results["tileset_bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        results["tiles"] = len(list(folder.rglob("*.glb")))
        services.db.dispose()
    return results


def main() -> None:
    """Run and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    out = {"benchmark": "cim", "database": args.db, "quick": args.quick,
           **run(args.db, args.quick)}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
