"""CRS parsing and the source → local ENU transformation."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from shequ.cim.io.crs import (
    AnchoredSource,
    CrsError,
    CrsSource,
    LocalFrame,
    choose_origin,
    fit_axis_order,
    parse_crs,
    place_scene,
    source_to_local,
)
from shequ.cim.io.scene import Crs, Footprint, Geometry, ObjectKind, Scene, SceneObject


@pytest.mark.parametrize(
    ("text", "epsg", "vertical"),
    [
        ("https://www.opengis.net/def/crs/EPSG/0/7415", 7415, None),
        ("http://www.opengis.net/def/crs/EPSG/0/4547", 4547, None),
        ("urn:ogc:def:crs:EPSG::7415", 7415, None),
        ("urn:ogc:def:crs:EPSG:6.12:4490", 4490, None),
        ("EPSG:28992+5709", 28992, 5709),
        ("EPSG:4326", 4326, None),
        ("epsg:4547", 4547, None),
        ("4490", 4490, None),
        ("urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783", 25832, 5783),
        ("urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783", 25833, 5783),
        ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", 25832, 7837),
        ("http://www.opengis.net/gml/srs/epsg.xml#32650", 32650, None),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", 4326, None),
        (
            "http://www.opengis.net/def/crs-compound?1=http://www.opengis.net/def/crs/EPSG/0/"
            "28992&2=http://www.opengis.net/def/crs/EPSG/0/5709",
            28992,
            5709,
        ),
    ],
)
def test_parse_crs_forms(text: str, epsg: int, vertical: int | None) -> None:
    crs = parse_crs(text)
    assert (crs.epsg, crs.vertical_epsg) == (epsg, vertical)
    assert crs.name


@pytest.mark.parametrize("code", [4491, 4502, 4513, 4534, 4547, 4554])
def test_cgcs2000_gauss_kruger_zones_are_known(code: int) -> None:
    crs = parse_crs(f"EPSG:{code}")
    assert crs.name is not None and "CGCS2000" in crs.name


def test_unknown_epsg_code_is_a_clear_error() -> None:
    with pytest.raises(CrsError) as caught:
        parse_crs("https://www.opengis.net/def/crs/EPSG/0/99999")
    assert caught.value.code == "cim.io.unknown_crs"
    assert "99999" in caught.value.params["crs"]


def test_garbage_crs_is_an_error() -> None:
    with pytest.raises(CrsError):
        parse_crs("my local grid")


def test_a_vertical_crs_alone_is_rejected() -> None:
    with pytest.raises(CrsError):
        parse_crs("EPSG:5709")


def test_local_frame_round_trip_and_axes() -> None:
    frame = LocalFrame((114.3, 30.6, 20.0))
    enu = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 10.0]])
    llh = frame.to_geodetic(enu)
    assert llh[0] == pytest.approx([114.3, 30.6, 20.0], abs=1e-9)
    assert llh[1, 0] > 114.3 and llh[1, 1] == pytest.approx(30.6, abs=1e-6)  # east
    assert llh[2, 1] > 30.6 and llh[2, 0] == pytest.approx(114.3, abs=1e-9)  # north
    assert llh[3, 2] == pytest.approx(30.0, abs=1e-6)  # up
    assert frame.from_geodetic(llh) == pytest.approx(enu, abs=1e-6)


def test_gauss_kruger_to_local_matches_pyproj_distances() -> None:
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True)
    e0, n0 = to_gk.transform(114.3, 30.6)
    xyz = np.array([[e0, n0, 10.0], [e0 + 100.0, n0, 10.0], [e0, n0 + 50.0, 40.0]])
    origin, _, local = source_to_local(CrsSource(parse_crs("EPSG:4547")), xyz)
    assert origin[2] == pytest.approx(10.0)
    assert np.linalg.norm(local[1] - local[0]) == pytest.approx(100.0, rel=2e-3)  # scale factor
    assert local[2, 2] - local[0, 2] == pytest.approx(30.0, abs=1e-3)
    assert local[1, 0] - local[0, 0] > 99.0  # GK easting is (almost) local east


def test_origin_is_bbox_centre_at_minimum_height() -> None:
    llh = np.array([[114.0, 30.0, 5.0], [114.2, 30.4, 1.0], [114.1, 30.1, 9.0]])
    assert choose_origin(llh) == pytest.approx((114.1, 30.2, 1.0))


def test_axis_order_is_fixed_when_only_the_swap_fits() -> None:
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True)
    e, n = to_gk.transform(114.3, 30.6)
    crs = parse_crs("EPSG:4547")
    _, verdict = fit_axis_order(crs, np.array([[e, n, 0.0]]))
    assert verdict == "ok"
    source, verdict = fit_axis_order(crs, np.array([[n, e, 0.0]]))
    assert verdict == "swapped" and source.swap_xy
    assert source.to_geodetic(np.array([[n, e, 0.0]]))[0, :2] == pytest.approx([114.3, 30.6])


def test_geographic_source_degrees() -> None:
    source = CrsSource(parse_crs("EPSG:4326"))
    origin, _, local = source_to_local(source, np.array([[4.3, 52.07, 0.0], [4.301, 52.07, 0.0]]))
    assert origin[:2] == pytest.approx((4.3005, 52.07))
    assert local[1, 0] - local[0, 0] == pytest.approx(68.6, abs=0.5)  # 0.001° lon at 52°N


def test_place_scene_moves_geometry_footprints_and_elevations() -> None:
    scene = Scene(source_crs=Crs(), origin=(0.0, 0.0, 0.0))
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True)
    e, n = to_gk.transform(114.3, 30.6)
    vertices = np.array([[e, n, 20.0], [e + 10, n, 20.0], [e + 10, n + 10, 30.0]])
    scene.add(SceneObject(id="a", kind=ObjectKind.building, elevation=25.0,
                          geometry=[Geometry(lod="1", vertices=vertices, surfaces=[[[0, 1, 2]]])]))
    scene.add(SceneObject(id="b", kind=ObjectKind.building,
                          footprint=Footprint(rings=[[(e, n), (e + 5, n), (e + 5, n + 5)]],
                                              base=20.0, height=6.0)))
    place_scene(scene, CrsSource(parse_crs("EPSG:4547")))
    assert scene.source_crs.epsg == 4547
    assert scene.origin[2] == pytest.approx(20.0)
    geometry = scene.objects["a"].geometry[0].vertices
    assert geometry[:, 2] == pytest.approx([0.0, 0.0, 10.0], abs=1e-3)
    assert scene.objects["a"].elevation == pytest.approx(5.0, abs=1e-3)
    footprint = scene.objects["b"].footprint
    assert footprint is not None and footprint.height == 6.0
    assert footprint.base == pytest.approx(0.0, abs=1e-3)
    (x0, y0), (x1, _), _ = footprint.rings[0]
    assert x1 - x0 == pytest.approx(5.0, rel=2e-3)
    assert (x0, y0) == pytest.approx(tuple(geometry[0, :2]), abs=1e-6)


def test_anchored_source_follows_true_north() -> None:
    # true north along model +x: a point 10 m along model +x is 10 m north
    source = AnchoredSource(anchor=(114.3, 30.6, 0.0), true_north=(1.0, 0.0))
    llh = source.to_geodetic(np.array([[10.0, 0.0, 0.0]]))
    enu = LocalFrame((114.3, 30.6, 0.0)).from_geodetic(llh)
    assert enu[0] == pytest.approx([0.0, 10.0, 0.0], abs=1e-6)
