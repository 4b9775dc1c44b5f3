"""CityGML importer: 2.0 and 3.0 synthetic files, the shared LOD4 sample, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.read import CimFormatError, read_scene
from shequ.cim.io.scene import Geometry, ObjectKind, Scene

LON, LAT = 114.3, 30.6


def _read(text: str) -> Scene:
    return read_scene("citygml", text.encode())


def _line_of(text: str, needle: str) -> str:
    return f"line {next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)}"


def _box_polygons(x: float, y: float, z: float, dx: float, dy: float, dz: float,
                  order: str = "en") -> dict[str, list[list[float]]]:
    """Outward rings of a box, named by face, as lists of 3D points (easting, northing, h)."""
    p = [
        (x, y, z), (x + dx, y, z), (x + dx, y + dy, z), (x, y + dy, z),
        (x, y, z + dz), (x + dx, y, z + dz), (x + dx, y + dy, z + dz), (x, y + dy, z + dz),
    ]
    faces = {
        "ground": [0, 3, 2, 1], "roof": [4, 5, 6, 7], "south": [0, 1, 5, 4],
        "east": [1, 2, 6, 5], "north": [2, 3, 7, 6], "west": [3, 0, 4, 7],
    }
    out: dict[str, list[list[float]]] = {}
    for name, idx in faces.items():
        ring = [list(p[i]) for i in [*idx, idx[0]]]
        out[name] = [[q[1], q[0], q[2]] for q in ring] if order == "ne" else ring
    return out


def _pos_list(ring: list[list[float]]) -> str:
    return " ".join(f"{v:.3f}" for point in ring for v in point)


def _polygon(ring: list[list[float]], gml_id: str = "") -> str:
    attr = f' gml:id="{gml_id}"' if gml_id else ""
    return (f"<gml:Polygon{attr}><gml:exterior><gml:LinearRing><gml:posList srsDimension=\"3\">"
            f"{_pos_list(ring)}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>")


def _newell_z(geometry: Geometry, surface: int) -> float:
    ring = geometry.vertices[geometry.surfaces[surface][0]]
    nxt = np.roll(ring, -1, axis=0)
    return float(((ring[:, 0] - nxt[:, 0]) * (ring[:, 1] + nxt[:, 1])).sum())


# --- CityGML 3.0 -----------------------------------------------------------------------------

NS3 = (
    'xmlns:core="http://www.opengis.net/citygml/3.0" '
    'xmlns:bldg="http://www.opengis.net/citygml/building/3.0" '
    'xmlns:con="http://www.opengis.net/citygml/construction/3.0" '
    'xmlns:gen="http://www.opengis.net/citygml/generics/3.0" '
    'xmlns:app="http://www.opengis.net/citygml/appearance/3.0" '
    'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink"'
)


def _citygml3() -> str:
    e, n = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True).transform(LON, LAT)
    box = _box_polygons(e, n, 30.0, 20.0, 12.0, 6.0, order="ne")
    room = _box_polygons(e + 1, n + 1, 30.0, 5.0, 4.0, 2.8, order="ne")
    shell = "".join(f"<gml:surfaceMember>{_polygon(r)}</gml:surfaceMember>" for r in box.values())
    room_shell = "".join(
        f"<gml:surfaceMember>{_polygon(r)}</gml:surfaceMember>" for r in room.values()
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel {NS3}>
  <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::4547" srsDimension="3">
    <gml:lowerCorner>{n} {e} 30</gml:lowerCorner>
    <gml:upperCorner>{n + 12} {e + 20} 36</gml:upperCorner>
  </gml:Envelope></gml:boundedBy>
  <core:cityObjectMember>
    <bldg:Building gml:id="B1">
      <gml:name>2号楼</gml:name>
      <core:genericAttribute><gen:IntAttribute><gen:name>households</gen:name>
        <gen:value>24</gen:value></gen:IntAttribute></core:genericAttribute>
      <core:genericAttribute><gen:StringAttribute><gen:name>物业</gen:name>
        <gen:value>和美物业</gen:value></gen:StringAttribute></core:genericAttribute>
      <core:lod1Solid><gml:Solid><gml:exterior><gml:Shell>{shell}</gml:Shell></gml:exterior>
      </gml:Solid></core:lod1Solid>
      <con:height><con:Height><con:highReference>highestRoofEdge</con:highReference>
        <con:lowReference>lowestGroundPoint</con:lowReference><con:status>measured</con:status>
        <con:value uom="m">6.2</con:value></con:Height></con:height>
      <core:appearance><app:Appearance gml:id="look"><app:theme>rgb</app:theme>
        <app:surfaceData><app:X3DMaterial gml:id="mat"><app:target>#roof3</app:target>
        </app:X3DMaterial></app:surfaceData></app:Appearance></core:appearance>
      <core:boundary><con:RoofSurface gml:id="roof-surface">
        <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::4547" srsDimension="3">
          <gml:lowerCorner>{n} {e} 36</gml:lowerCorner>
          <gml:upperCorner>{n + 12} {e + 20} 36</gml:upperCorner></gml:Envelope></gml:boundedBy>
        <core:creationDate>2024-01-01</core:creationDate>
        <core:lod2MultiSurface><gml:MultiSurface>
          <gml:surfaceMember>{_polygon(box["roof"], "roof3")}</gml:surfaceMember>
        </gml:MultiSurface></core:lod2MultiSurface></con:RoofSurface></core:boundary>
      <bldg:function>1000</bldg:function>
      <bldg:storeysAboveGround>2</bldg:storeysAboveGround>
      <bldg:buildingRoom><bldg:BuildingRoom gml:id="R101"><gml:name>101</gml:name>
        <core:lod2Solid><gml:Solid><gml:exterior><gml:Shell>{room_shell}</gml:Shell>
        </gml:exterior></gml:Solid></core:lod2Solid></bldg:BuildingRoom></bldg:buildingRoom>
      <bldg:buildingRoom><bldg:BuildingRoom gml:id="R201"><gml:name>201</gml:name>
      </bldg:BuildingRoom></bldg:buildingRoom>
      <bldg:buildingSubdivision><bldg:Storey gml:id="S2"><gml:name>2F</gml:name>
        <bldg:sortKey>2</bldg:sortKey><bldg:buildingRoom xlink:href="#R201"/>
      </bldg:Storey></bldg:buildingSubdivision>
      <bldg:buildingSubdivision><bldg:Storey gml:id="S1"><gml:name>1F</gml:name>
        <bldg:sortKey>1</bldg:sortKey><bldg:buildingRoom xlink:href="#R101"/>
      </bldg:Storey></bldg:buildingSubdivision>
      <bldg:buildingSubdivision><bldg:BuildingUnit gml:id="U1"><gml:name>1单元</gml:name>
      </bldg:BuildingUnit></bldg:buildingSubdivision>
    </bldg:Building>
  </core:cityObjectMember>
</core:CityModel>
"""


def test_citygml3_storeys_units_and_rooms() -> None:
    scene = _read(_citygml3())
    assert scene.errors == [] and scene.issues == []
    assert scene.metadata["version"] == "3.0"
    assert scene.counts() == {"building": 1, "room": 2, "storey": 2, "unit": 1}
    building = scene.objects["B1"]
    assert building.name == "2号楼" and building.height == 6.2
    assert building.attributes["households"] == 24
    assert building.attributes["物业"] == "和美物业"
    assert building.attributes["storeysAboveGround"] == 2
    assert scene.objects["R101"].parent == "S1" and scene.objects["R201"].parent == "S2"
    assert scene.objects["S1"].storey_index == 1 and scene.objects["S2"].storey_index == 2
    assert scene.objects["U1"].kind == ObjectKind.unit and scene.objects["U1"].parent == "B1"
    assert scene.objects["R101"].geometry[0].lod == "2"


def test_citygml3_gauss_kruger_in_authority_axis_order() -> None:
    scene = _read(_citygml3())
    assert scene.source_crs.epsg == 4547
    solid, roof = scene.objects["B1"].geometry
    assert solid.solid and solid.lod == "1" and len(solid.surfaces) == 6
    assert (roof.lod, roof.solid, roof.semantics) == ("2", False, ["RoofSurface"])
    assert roof.vertices[:, 2] == pytest.approx([6.0] * 4, abs=1e-3)
    assert solid.vertices.shape == (8, 3)  # shared corners merged
    corner = LocalFrame(scene.origin).to_geodetic(solid.vertices.min(axis=0, keepdims=True))
    assert corner[0, :2] == pytest.approx([LON, LAT], abs=2e-6)
    extent = solid.vertices.max(axis=0) - solid.vertices.min(axis=0)
    assert extent == pytest.approx([20.0, 12.0, 6.0], abs=0.1)


# --- CityGML 2.0 with xlinks -----------------------------------------------------------------

NS2 = (
    'xmlns="http://www.opengis.net/citygml/2.0" '
    'xmlns:bldg="http://www.opengis.net/citygml/building/2.0" '
    'xmlns:gen="http://www.opengis.net/citygml/generics/2.0" '
    'xmlns:gml="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink"'
)


def _citygml2(extra_member: str = "", srs: str = 'srsName="EPSG:32650"') -> str:
    box = _box_polygons(450000.0, 3390000.0, 10.0, 10.0, 10.0, 3.0)
    upward_ground = box["ground"][::-1]
    walls = "".join(
        f"<gml:surfaceMember>{_polygon(box[k], f'wall-{k}')}</gml:surfaceMember>"
        for k in ("south", "east", "north", "west")
    )
    part = _box_polygons(450000.0, 3390010.0, 10.0, 4.0, 4.0, 2.0)
    part_shell = "".join(
        "<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing>"
        + "".join(f"<gml:pos>{p[0]} {p[1]} {p[2]}</gml:pos>" for p in ring)
        + "</gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>"
        for ring in part.values()
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CityModel {NS2}>
  <gml:boundedBy><gml:Envelope {srs} srsDimension="3">
    <gml:lowerCorner>450000 3390000 10</gml:lowerCorner>
    <gml:upperCorner>450010 3390014 13</gml:upperCorner></gml:Envelope></gml:boundedBy>
  <cityObjectMember>
    <bldg:Building gml:id="house">
      <gml:name>Gatehouse</gml:name>
      <gen:stringAttribute name="owner"><gen:value>community</gen:value></gen:stringAttribute>
      <gen:intAttribute name="households"><gen:value>3</gen:value></gen:intAttribute>
      <gen:doubleAttribute name="area"><gen:value>99.5</gen:value></gen:doubleAttribute>
      <bldg:function>1010</bldg:function>
      <bldg:measuredHeight uom="#m">3.2</bldg:measuredHeight>
      <bldg:storeysAboveGround>1</bldg:storeysAboveGround>
      <bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>
        <gml:surfaceMember><gml:OrientableSurface orientation="-">
          <gml:baseSurface xlink:href="#ground"/></gml:OrientableSurface></gml:surfaceMember>
        <gml:surfaceMember xlink:href="#roof"/>
        <gml:surfaceMember xlink:href="#walls"/>
      </gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>
      <bldg:boundedBy><bldg:GroundSurface><bldg:lod2MultiSurface><gml:MultiSurface>
        <gml:surfaceMember>{_polygon(upward_ground, "ground")}</gml:surfaceMember>
      </gml:MultiSurface></bldg:lod2MultiSurface></bldg:GroundSurface></bldg:boundedBy>
      <bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface><gml:MultiSurface>
        <gml:surfaceMember>{_polygon(box["roof"], "roof")}</gml:surfaceMember>
      </gml:MultiSurface></bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>
      <bldg:boundedBy><bldg:WallSurface><bldg:lod2MultiSurface><gml:MultiSurface>
        <gml:surfaceMember><gml:CompositeSurface gml:id="walls">{walls}</gml:CompositeSurface>
        </gml:surfaceMember></gml:MultiSurface></bldg:lod2MultiSurface></bldg:WallSurface>
      </bldg:boundedBy>
      <bldg:consistsOfBuildingPart><bldg:BuildingPart gml:id="annex">
        <bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>{part_shell}
        </gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>
      </bldg:BuildingPart></bldg:consistsOfBuildingPart>
      <bldg:address><Address><xalAddress>
        <AddressDetails xmlns="urn:oasis:names:tc:ciq:xsdschema:xAL:2.0">
        <Locality><LocalityName>武汉</LocalityName></Locality></AddressDetails></xalAddress>
      </Address></bldg:address>
    </bldg:Building>
  </cityObjectMember>
  {extra_member}
</CityModel>
"""


def test_citygml2_xlinked_polygons_take_their_semantics() -> None:
    scene = _read(_citygml2())
    assert scene.errors == [] and scene.issues == []
    assert scene.source_crs.epsg == 32650
    house = scene.objects["house"]
    assert [g.lod for g in house.geometry] == ["2"]  # thematic polygons absorbed by the solid
    solid = house.geometry[0]
    assert solid.solid and len(solid.surfaces) == 6
    assert solid.semantics == ["GroundSurface", "RoofSurface"] + ["WallSurface"] * 4
    assert _newell_z(solid, 0) < 0 < _newell_z(solid, 1)  # orientation="-" turned ground down
    assert house.height == 3.2 and house.name == "Gatehouse"
    assert house.attributes["owner"] == "community"
    assert house.attributes["households"] == 3 and house.attributes["area"] == 99.5
    assert house.attributes["function"] == 1010 and house.attributes["address"] == "武汉"


def test_citygml2_building_part_from_pos_elements() -> None:
    scene = _read(_citygml2())
    annex = scene.objects["annex"]
    assert annex.kind == ObjectKind.building_part and annex.parent == "house"
    assert annex.geometry[0].solid and len(annex.geometry[0].surfaces) == 6
    assert annex.height == pytest.approx(2.0, abs=1e-3)
    house_min = scene.objects["house"].geometry[0].vertices.min(axis=0)
    annex_min = annex.geometry[0].vertices.min(axis=0)
    assert annex_min - house_min == pytest.approx([0.0, 10.0, 0.0], abs=0.05)  # grid vs ENU


def test_unresolved_xlink_reports_its_line() -> None:
    extra = """<cityObjectMember><bldg:Building gml:id="ghost"><bldg:lod2MultiSurface>
      <gml:MultiSurface><gml:surfaceMember xlink:href="#missing"/></gml:MultiSurface>
      </bldg:lod2MultiSurface></bldg:Building></cityObjectMember>"""
    text = _citygml2(extra)
    scene = _read(text)
    assert [i.location for i in scene.errors] == [_line_of(text, "#missing")]
    assert "#missing" in scene.errors[0].message


def test_bad_pos_list_reports_its_line() -> None:
    extra = """<cityObjectMember><bldg:Building gml:id="bad"><bldg:lod1MultiSurface>
      <gml:MultiSurface><gml:surfaceMember><gml:Polygon><gml:exterior>
      <gml:LinearRing gml:id="bad-ring">
      <gml:posList srsDimension="3">1 2 3 4 5 6 7</gml:posList></gml:LinearRing></gml:exterior>
      </gml:Polygon></gml:surfaceMember></gml:MultiSurface></bldg:lod1MultiSurface>
      </bldg:Building></cityObjectMember>"""
    text = _citygml2(extra)
    scene = _read(text)
    assert [i.location for i in scene.errors] == [_line_of(text, "bad-ring")]
    assert "bad" in scene.objects  # the feature is kept, without the broken polygon
    assert scene.objects["bad"].geometry == []


def test_no_srs_name_is_a_local_frame_with_a_warning() -> None:
    scene = _read(_citygml2(srs=""))
    assert scene.errors == []
    assert [(i.severity, i.location) for i in scene.issues] == [("warning", "srsName")]
    assert scene.objects["house"].geometry[0].vertices.min(axis=0) == pytest.approx(
        [450000.0, 3390000.0, 10.0]
    )


def test_broken_xml_raises_with_a_line() -> None:
    text = _citygml2()
    cut = text[: text.index("<bldg:consistsOfBuildingPart>")] + "<bldg:function>1</bldg:fun"
    with pytest.raises(CimFormatError) as caught:
        _read(cut)
    assert caught.value.params["location"].startswith("line ")
    assert int(caught.value.params["location"].split()[1]) > 10


def test_not_citygml_raises() -> None:
    with pytest.raises(CimFormatError):
        _read("<html><body>hello</body></html>")


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    text = _citygml2().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0"?>\n<!DOCTYPE CityModel [<!ENTITY xxe SYSTEM "file://{secret}">]>',
    ).replace("<gml:name>Gatehouse</gml:name>", "<gml:name>&xxe;</gml:name>")
    scene = _read(text)
    house = scene.objects["house"]
    assert "TOP-SECRET" not in str(house.name) and "TOP-SECRET" not in str(house.attributes)


# --- the shared sample -----------------------------------------------------------------------


def test_lod4_sample(shared_data: Path) -> None:
    scene = read_scene("auto", shared_data / "citygml" / "lod4_building_v2.gml")
    assert scene.errors == []
    assert (scene.source_crs.epsg, scene.source_crs.vertical_epsg) == (25832, 5783)
    assert scene.origin[0] == pytest.approx(8.437, abs=0.01)
    assert scene.origin[1] == pytest.approx(49.097, abs=0.01)
    assert scene.counts()["building"] == 1 and scene.counts()["room"] == 1
    building = scene.of_kind(ObjectKind.building)[0]
    assert building.height == 5.0 and building.attributes["storeysAboveGround"] == 1
    assert building.name == "Example Building LOD4"
    solid = next(g for g in building.geometry if g.solid)
    assert solid.lod == "4"
    assert {"GroundSurface", "WallSurface", "RoofSurface"} <= set(solid.semantics)
    room = scene.of_kind(ObjectKind.room)[0]
    assert room.parent == building.id
    room_semantics = set(room.geometry[0].semantics)
    assert {"FloorSurface", "CeilingSurface", "InteriorWallSurface"} <= room_semantics
    furniture = [o for o in scene.objects.values() if o.source_type == "BuildingFurniture"]
    assert len(furniture) == 1 and furniture[0].parent == room.id
    assert furniture[0].name == "Rocking Chair"
