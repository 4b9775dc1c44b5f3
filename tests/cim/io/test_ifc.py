"""IFC importer: the shared samples and a hand-written georeferenced IFC4 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.read import CimFormatError, read_scene
from shequ.cim.io.scene import ObjectKind, Scene

# Millimetre project, true north along +y, IfcMapConversion to CGCS2000 GK CM 114E (EPSG:4547),
# rotated 30°, scale 0.001; two storeys, one good and one broken space, one wall.
MAPPED_IFC4 = """ISO-10303-21;
HEADER;
FILE_DESCRIPTION(('ViewDefinition [ReferenceView]'),'2;1');
FILE_NAME('mapped.ifc','2024-01-01T00:00:00',('shequ'),('shequ'),'hand written','shequ tests','');
FILE_SCHEMA(('IFC4'));
ENDSEC;
DATA;
#1=IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'Mapped project',$,$,$,$,(#10),#5);
#2=IFCSIUNIT(*,.LENGTHUNIT.,.MILLI.,.METRE.);
#3=IFCSIUNIT(*,.PLANEANGLEUNIT.,$,.RADIAN.);
#4=IFCSIUNIT(*,.AREAUNIT.,$,.SQUARE_METRE.);
#5=IFCUNITASSIGNMENT((#2,#3,#4));
#6=IFCCARTESIANPOINT((0.,0.,0.));
#7=IFCDIRECTION((0.,0.,1.));
#9=IFCAXIS2PLACEMENT3D(#6,$,$);
#10=IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#9,#11);
#11=IFCDIRECTION((0.,1.));
#12=IFCGEOMETRICREPRESENTATIONSUBCONTEXT('Body','Model',*,*,*,*,#10,$,.MODEL_VIEW.,$);
#13=IFCPROJECTEDCRS('EPSG:4547','CGCS2000 / 3-degree Gauss-Kruger CM 114E',$,$,$,$,#14);
#14=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);
#15=IFCMAPCONVERSION(#10,#13,530000.,3390000.,20.,0.8660254037844387,0.5,0.001);
#20=IFCLOCALPLACEMENT($,#9);
#21=IFCSITE('1Wq5ryh1rBlB1xwCDN$wgp',$,'Site',$,$,#20,$,$,.ELEMENT.,$,$,$,$,$);
#22=IFCLOCALPLACEMENT(#20,#9);
#23=IFCBUILDING('2Xe1dWjQL8ixtCRGbd5h$q',$,'Building 1',$,$,#22,$,$,.ELEMENT.,$,$,$);
#24=IFCAXIS2PLACEMENT3D(#25,$,$);
#25=IFCCARTESIANPOINT((0.,0.,3000.));
#26=IFCLOCALPLACEMENT(#22,#24);
#27=IFCBUILDINGSTOREY('0nB6w1pYz3xPWwEkT_5m1A',$,'2F',$,$,#26,$,$,.ELEMENT.,3000.);
#28=IFCLOCALPLACEMENT(#22,#9);
#29=IFCBUILDINGSTOREY('1nB6w1pYz3xPWwEkT_5m1B',$,'1F',$,$,#28,$,$,.ELEMENT.,0.);
#30=IFCRELAGGREGATES('3pX0Zt3y11Ggn6o8hWmSuK',$,$,$,#1,(#21));
#31=IFCRELAGGREGATES('0iqgqj0yT8QRrPVfS4_Dvn',$,$,$,#21,(#23));
#32=IFCRELAGGREGATES('2bYnO9vlX9QhpsT6Qk35hb',$,$,$,#23,(#29,#27));
#40=IFCLOCALPLACEMENT(#26,#9);
#41=IFCSPACE('2uM0Z9YlnEVfJIEbK4PXyA',$,'201',$,$,#40,#46,'Living room',.ELEMENT.,.INTERNAL.,$);
#42=IFCRECTANGLEPROFILEDEF(.AREA.,$,#43,6000.,4000.);
#43=IFCAXIS2PLACEMENT2D(#44,$);
#44=IFCCARTESIANPOINT((3000.,2000.));
#45=IFCEXTRUDEDAREASOLID(#42,#9,#7,2800.);
#46=IFCPRODUCTDEFINITIONSHAPE($,$,(#47));
#47=IFCSHAPEREPRESENTATION(#12,'Body','SweptSolid',(#45));
#50=IFCLOCALPLACEMENT(#26,#9);
#51=IFCSPACE('3uM0Z9YlnEVfJIEbK4PXyB',$,'202',$,$,#50,#56,'Broken room',.ELEMENT.,.INTERNAL.,$);
#52=IFCRECTANGLEPROFILEDEF(.AREA.,$,#43,0.,0.);
#55=IFCEXTRUDEDAREASOLID(#52,#9,#7,0.);
#56=IFCPRODUCTDEFINITIONSHAPE($,$,(#57));
#57=IFCSHAPEREPRESENTATION(#12,'Body','SweptSolid',(#55));
#60=IFCRELAGGREGATES('1Yv0bFq7X1Hv8hC5N2XxXy',$,$,$,#27,(#41,#51));
#70=IFCWALL('0Ab0bFq7X1Hv8hC5N2XxXz',$,'Wall',$,$,#71,#74,$,.STANDARD.);
#71=IFCLOCALPLACEMENT(#28,#9);
#72=IFCRECTANGLEPROFILEDEF(.AREA.,$,#73,10000.,200.);
#73=IFCAXIS2PLACEMENT2D(#76,$);
#76=IFCCARTESIANPOINT((5000.,-100.));
#77=IFCEXTRUDEDAREASOLID(#72,#9,#7,6000.);
#74=IFCPRODUCTDEFINITIONSHAPE($,$,(#78));
#78=IFCSHAPEREPRESENTATION(#12,'Body','SweptSolid',(#77));
#75=IFCRELCONTAINEDINSPATIALSTRUCTURE('2Cd0bFq7X1Hv8hC5N2XxXw',$,$,$,(#70),#29);
ENDSEC;
END-ISO-10303-21;
"""


@pytest.fixture(scope="module")
def duplex(shared_data: Path) -> Scene:
    return read_scene("ifc", shared_data / "ifc" / "duplex.ifc")


def test_duplex_structure(duplex: Scene) -> None:
    assert duplex.errors == []
    assert duplex.counts() == {"building": 1, "storey": 4, "room": 21}
    building = duplex.of_kind(ObjectKind.building)[0]
    storeys = {s.name: s for s in duplex.of_kind(ObjectKind.storey)}
    assert {n: s.storey_index for n, s in storeys.items()} == {
        "T/FDN": -1, "Level 1": 1, "Level 2": 2, "Roof": 3}
    assert all(s.parent == building.id for s in storeys.values())
    assert storeys["Level 2"].elevation - storeys["Level 1"].elevation == pytest.approx(3.1)
    assert storeys["Level 1"].height == pytest.approx(3.1)
    rooms = duplex.of_kind(ObjectKind.room)
    assert all(r.parent in {s.id for s in storeys.values()} for r in rooms)
    names = {r.name for r in rooms}
    assert {"Foyer", "Living Room", "Kitchen"} <= names
    assert {r.attributes["number"] for r in rooms} >= {"A101", "A102", "B101"}


def test_duplex_rooms_have_geometry_inside_the_building(duplex: Scene) -> None:
    building = duplex.of_kind(ObjectKind.building)[0]
    assert building.footprint is not None and building.geometry[0].lod == "1"
    low = building.geometry[0].vertices.min(axis=0) - 0.5
    high = building.geometry[0].vertices.max(axis=0) + 0.5
    for room in duplex.of_kind(ObjectKind.room):
        assert len(room.geometry) == 1, room.name
        geometry = room.geometry[0]
        assert geometry.solid and len(geometry.surfaces) >= 12
        plan = geometry.vertices[:, :2]
        assert ((plan >= low[:2]) & (plan <= high[:2])).all(), room.name
        assert "FloorSurface" in geometry.semantics
        assert room.attributes["floor_area"] > 1.0
    living = next(r for r in duplex.of_kind(ObjectKind.room) if r.name == "Living Room")
    assert 2.0 < (living.height or 0) < 3.5


def test_duplex_is_placed_from_its_site_reference(duplex: Scene) -> None:
    assert duplex.origin[0] == pytest.approx(-87.6394, abs=0.001)
    assert duplex.origin[1] == pytest.approx(41.8744, abs=0.001)
    assert [i.location for i in duplex.issues] == ["IfcSite"]  # approximate: a warning


def test_ifc_open_house_without_spaces(shared_data: Path) -> None:
    scene = read_scene("auto", shared_data / "ifc" / "IfcOpenHouse_IFC4.ifc")
    assert scene.errors == []
    assert scene.counts() == {"building": 1, "storey": 1}
    warnings = [i.location for i in scene.issues if i.severity == "warning"]
    assert warnings == ["IfcProject", "IfcSite"]  # no spaces; no georeferencing
    assert scene.origin == (0.0, 0.0, 0.0)
    building = scene.of_kind(ObjectKind.building)[0]
    assert building.height is not None and 4.0 < building.height < 8.0  # mm read as metres
    assert scene.of_kind(ObjectKind.storey)[0].storey_index == 1


def test_map_conversion_units_and_broken_space(tmp_path: Path) -> None:
    path = tmp_path / "mapped.ifc"
    path.write_text(MAPPED_IFC4)
    scene = read_scene("ifc", path)
    assert scene.errors == []
    assert scene.source_crs.epsg == 4547
    assert scene.counts() == {"building": 1, "storey": 2, "room": 2}
    broken = scene.objects["3uM0Z9YlnEVfJIEbK4PXyB"]
    assert broken.geometry == [] and broken.name == "Broken room"
    assert [i.location for i in scene.issues] == ["#51 IfcSpace '202'"]
    room = scene.objects["2uM0Z9YlnEVfJIEbK4PXyA"]
    assert room.parent == "0nB6w1pYz3xPWwEkT_5m1A" and room.attributes["floor_area"] == 24.0
    assert room.height == pytest.approx(2.8)
    storeys = sorted(scene.of_kind(ObjectKind.storey), key=lambda s: s.storey_index or 0)
    assert [s.name for s in storeys] == ["1F", "2F"] and storeys[0].storey_index == 1
    # local (6000, 0, 3000) mm → map E 530000 + 6·cos30°, N 3390000 + 6·sin30°, H 20 + 3
    vertices = room.geometry[0].vertices
    corner = vertices[np.argmax(vertices[:, 0] - vertices[:, 1] - 10 * vertices[:, 2])]
    lon, lat, h = LocalFrame(scene.origin).to_geodetic(corner[None, :])[0]
    to_geo = Transformer.from_crs("EPSG:4547", "EPSG:4979", always_xy=True)
    expected = to_geo.transform(530000 + 6 * np.cos(np.pi / 6), 3390000 + 6 * 0.5, 23.0)
    assert (lon, lat, h) == pytest.approx(expected, abs=1e-7)


def test_white_model_from_the_wall(tmp_path: Path) -> None:
    path = tmp_path / "mapped.ifc"
    path.write_text(MAPPED_IFC4)
    building = read_scene("ifc", path).objects["2Xe1dWjQL8ixtCRGbd5h$q"]
    assert building.footprint is not None and building.height == pytest.approx(6.0)
    from shapely.geometry import Polygon

    assert Polygon(building.footprint.rings[0]).area == pytest.approx(10 * 0.2, rel=0.05)


def test_not_ifc_raises() -> None:
    with pytest.raises(CimFormatError) as caught:
        read_scene("ifc", b"hello world")
    assert caught.value.code == "cim.io.bad_file"


def test_truncated_ifc_raises() -> None:
    with pytest.raises(CimFormatError) as caught:
        read_scene("ifc", MAPPED_IFC4[: len(MAPPED_IFC4) // 2].encode())
    assert "END-ISO-10303-21" in caught.value.params["reason"]
