"""GeoJSON checks of CIM inputs: bad geometry is a validation error, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from shequ.cim.geo import check_geometry, footprint_rings, to_local, to_lonlat

BOW_TIE = {"type": "Polygon", "coordinates": [[[120, 30], [120.001, 30.001], [120.001, 30],
                                                [120, 30.001], [120, 30]]]}


@pytest.mark.parametrize(("value", "reason"), [
    ({"type": "Point"}, "malformed"),
    ({"type": "Point", "coordinates": "x"}, "malformed"),
    ({"type": "Polygon", "coordinates": [[["a", "b"]]]}, "malformed"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Circle", "coordinates": [0, 0]}, "geometry type"),
    ({"type": "Point", "coordinates": [500000, 3300000]}, "longitude/latitude"),
    (BOW_TIE, "Self-intersection"),
    ("not a dict", "geometry type"),
])
def test_bad_geometries_are_value_errors(value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_geometry(value)


def test_local_frame_round_trip() -> None:
    origin = (120.1205, 30.2902)
    x, y = to_local(120.1215, 30.2912, origin)
    assert 95 < x < 97 and 110 < y < 112
    lon, lat = to_lonlat(x, y, origin)
    assert abs(lon - 120.1215) < 1e-9 and abs(lat - 30.2912) < 1e-9
    square = {"type": "Polygon", "coordinates": [[[120.1205, 30.2902], [120.1215, 30.2902],
                                                   [120.1215, 30.2912], [120.1205, 30.2902]]]}
    rings = footprint_rings(check_geometry(square), origin)
    assert len(rings) == 1 and len(rings[0]) == 3 and rings[0][0] == (0.0, 0.0)
