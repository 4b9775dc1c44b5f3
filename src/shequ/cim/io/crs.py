"""Coordinate reference systems and georeferencing for the CIM importers.

Every importer reads coordinates in the file's own CRS (the source), then `place_scene` moves
them into the scene's local east-north-up (ENU) frame: source → WGS 84 geographic 3D
(EPSG:4979) → earth-centred (EPSG:4978) → ENU at an origin chosen at the centre of the data's
bounding box at its minimum height. Supported sources: any CRS pyproj knows by EPSG code
(WGS 84, CGCS2000 / 国家2000 EPSG:4490, its Gauss–Krüger 3° and 6° zones EPSG:4491–4554, national
grids such as RD New + NAP EPSG:7415, UTM ...), a local frame tied to a known point (IFC site
reference), and no CRS at all (a local engineering frame kept as metres).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as ProjCrsError

from shequ.cim.io.scene import Crs, Scene
from shequ.kit.errors import ValidationFailed

Points = npt.NDArray[np.float64]
"""An (N, 3) array of coordinates."""

WGS84_3D = 4979
ECEF = 4978
SAMPLE_SIZE = 512
AREA_MARGIN_DEG = 0.5

# German AdV short names seen in CityGML srsName attributes (urn:adv:crs:...).
_ADV_NAMES = {
    "ETRS89_UTM31": 25831,
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "DE_DHHN92_NH": 5783,
    "DE_DHHN2016_NH": 7837,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
    "DE_DHDN_3GK5": 31469,
}
_EPSG_CODE = re.compile(
    r"EPSG(?:/\d+(?:\.\d+)*/|:(?:\d+(?:\.\d+)*)?:|::|:|\.xml#|/)(\d{4,6})", re.IGNORECASE
)
_PLUS_COMPOUND = re.compile(r"EPSG:(\d{4,6})\s*\+\s*(?:EPSG:)?(\d{4,6})", re.IGNORECASE)
_CRS84 = re.compile(r"CRS[:/]?84(?!\d)", re.IGNORECASE)


class CrsError(ValidationFailed):
    """A coordinate reference system that cannot be understood or used."""

    code = "cim.io.unknown_crs"


class TransformFailed(ValidationFailed):
    """Coordinates that cannot be transformed from their declared CRS."""

    code = "cim.io.transform_failed"


# --- parsing -----------------------------------------------------------------------------


def parse_crs(text: str) -> Crs:
    """Parse a CRS reference (EPSG code, OGC URL or URN, compound forms, AdV names, WKT)."""
    value = text.strip()
    if not value:
        raise CrsError(f"empty CRS reference {text!r}", crs=text)
    if value.isdigit():
        return crs_from_codes([int(value)], text)
    if _CRS84.search(value):
        return crs_from_codes([4326], text)
    plus = _PLUS_COMPOUND.search(value)
    if plus:
        return crs_from_codes([int(plus.group(1)), int(plus.group(2))], text)
    codes = [int(c) for c in _EPSG_CODE.findall(value)]
    codes += _adv_codes(value)
    if codes:
        return crs_from_codes(codes, text)
    return _crs_from_definition(value)


def _adv_codes(value: str) -> list[int]:
    if not value.lower().startswith("urn:adv:crs:"):
        return []
    parts = value[len("urn:adv:crs:") :].split("*")
    return [_ADV_NAMES[p] for p in parts if p in _ADV_NAMES]


def _crs_from_definition(value: str) -> Crs:
    try:
        parsed = CRS.from_user_input(value)
    except ProjCrsError as exc:
        raise CrsError(f"unknown CRS {value!r}: {exc}", crs=value) from exc
    epsg = parsed.to_epsg(min_confidence=90)
    if epsg is not None:
        return Crs(epsg=epsg, name=parsed.name)
    return Crs(wkt=parsed.to_wkt(), name=parsed.name)


def crs_from_codes(codes: list[int], source: str = "") -> Crs:
    """A `Crs` from one EPSG code or a horizontal + vertical pair, checked against PROJ."""
    label = source or "+".join(f"EPSG:{c}" for c in codes)
    if not codes or len(codes) > 2:
        raise CrsError(f"cannot read CRS {label!r}", crs=label)
    horizontal = _known(codes[0], label)
    vertical = _known(codes[1], label) if len(codes) == 2 else None
    if vertical is not None and vertical.type_name != "Vertical CRS":
        raise CrsError(f"{label!r}: EPSG:{codes[1]} is not a vertical CRS", crs=label)
    if horizontal.type_name == "Vertical CRS" or horizontal.is_geocentric:
        raise CrsError(f"{label!r}: EPSG:{codes[0]} has no horizontal axes", crs=label)
    name = horizontal.name + (f" + {vertical.name}" if vertical is not None else "")
    return Crs(epsg=codes[0], vertical_epsg=codes[1] if vertical is not None else None, name=name)


def _known(code: int, label: str) -> CRS:
    try:
        return _epsg(code)
    except ProjCrsError as exc:
        raise CrsError(f"unknown EPSG code {code} in {label!r}", crs=f"EPSG:{code}") from exc


@lru_cache(maxsize=64)
def _epsg(code: int) -> CRS:
    return CRS.from_epsg(code)


def to_pyproj(crs: Crs) -> CRS:
    """The pyproj CRS of a declared `Crs` (compound when a vertical code is present)."""
    if crs.epsg is not None and crs.vertical_epsg is not None:
        return CRS.from_user_input(f"EPSG:{crs.epsg}+{crs.vertical_epsg}")
    if crs.epsg is not None:
        return _epsg(crs.epsg)
    if crs.wkt:
        return CRS.from_wkt(crs.wkt)
    raise CrsError("no CRS definition", crs=crs.label)


def north_first(crs: Crs) -> bool:
    """Whether the authority axis order of the CRS puts north (or latitude) first."""
    axes = to_pyproj(crs).axis_info
    return bool(axes) and axes[0].direction.lower() == "north"


# --- source frames --------------------------------------------------------------------------


class SourceFrame(Protocol):
    """Where source coordinates live: turns them into WGS 84 longitude, latitude, height."""

    @property
    def crs(self) -> Crs:
        """The CRS recorded on the scene."""
        ...

    def to_geodetic(self, xyz: Points) -> Points:
        """Source (N, 3) coordinates → (N, 3) longitude, latitude, ellipsoidal height."""
        ...


@dataclass
class CrsSource:
    """Coordinates in a CRS pyproj knows; `swap_xy` when the file gives y before x."""

    crs: Crs
    swap_xy: bool = False
    _transformer: Transformer | None = field(default=None, repr=False)

    def transformer(self) -> Transformer:
        """The cached transformer to WGS 84 geographic 3D, in x=longitude order."""
        if self._transformer is None:
            self._transformer = Transformer.from_crs(
                to_pyproj(self.crs), _epsg(WGS84_3D), always_xy=True
            )
        return self._transformer

    def to_geodetic(self, xyz: Points) -> Points:
        """Source coordinates → longitude, latitude, height."""
        x, y = (xyz[:, 1], xyz[:, 0]) if self.swap_xy else (xyz[:, 0], xyz[:, 1])
        lon, lat, h = self.transformer().transform(x, y, xyz[:, 2], errcheck=False)
        return np.column_stack([lon, lat, h]).astype(np.float64)


@dataclass
class AnchoredSource:
    """A local metric frame tied to a known point and true-north direction (IFC site)."""

    anchor: tuple[float, float, float]
    true_north: tuple[float, float] = (0.0, 1.0)
    crs: Crs = field(default_factory=lambda: Crs(name="local (anchored)"))

    def to_geodetic(self, xyz: Points) -> Points:
        """Local model coordinates → longitude, latitude, height through the anchor's ENU."""
        tx, ty = self.true_north
        norm = math.hypot(tx, ty) or 1.0
        tx, ty = tx / norm, ty / norm
        east = xyz[:, 0] * ty - xyz[:, 1] * tx
        north = xyz[:, 0] * tx + xyz[:, 1] * ty
        enu = np.column_stack([east, north, xyz[:, 2]])
        return LocalFrame(self.anchor).to_geodetic(enu)


@dataclass
class HelmertSource:
    """Local engineering coordinates placed on a map CRS by a 2D Helmert conversion (IFC)."""

    target: CrsSource
    eastings: float = 0.0
    northings: float = 0.0
    height: float = 0.0
    x_axis: tuple[float, float] = (1.0, 0.0)
    scale: float = 1.0

    @property
    def crs(self) -> Crs:
        """The map CRS."""
        return self.target.crs

    def to_map(self, xyz: Points) -> Points:
        """Local coordinates → map eastings, northings, heights."""
        a, b = self.x_axis
        norm = math.hypot(a, b) or 1.0
        cos, sin = a / norm, b / norm
        s = self.scale
        e = s * (cos * xyz[:, 0] - sin * xyz[:, 1]) + self.eastings
        n = s * (sin * xyz[:, 0] + cos * xyz[:, 1]) + self.northings
        h = s * xyz[:, 2] + self.height
        return np.column_stack([e, n, h])

    def to_geodetic(self, xyz: Points) -> Points:
        """Local coordinates → longitude, latitude, height."""
        return self.target.to_geodetic(self.to_map(xyz))


# --- the local ENU frame ------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFrame:
    """The east-north-up frame of a scene, centred at `origin` (lon, lat, h; WGS 84)."""

    origin: tuple[float, float, float]

    def _rotation(self) -> Points:
        lon, lat = math.radians(self.origin[0]), math.radians(self.origin[1])
        sl, cl, sp, cp = math.sin(lon), math.cos(lon), math.sin(lat), math.cos(lat)
        return np.array(
            [[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]],
            dtype=np.float64,
        )

    def _centre(self) -> Points:
        return _geodetic_to_ecef(np.array([self.origin], dtype=np.float64))[0]

    def from_geodetic(self, llh: Points) -> Points:
        """Longitude, latitude, height → local east, north, up metres."""
        ecef = _geodetic_to_ecef(llh)
        return np.asarray((ecef - self._centre()) @ self._rotation().T, dtype=np.float64)

    def to_geodetic(self, enu: Points) -> Points:
        """Local east, north, up metres → longitude, latitude, height."""
        ecef = enu @ self._rotation() + self._centre()
        return _ecef_to_geodetic(np.asarray(ecef, dtype=np.float64))


@lru_cache(maxsize=2)
def _ecef_transformer(forward: bool) -> Transformer:
    source, target = (WGS84_3D, ECEF) if forward else (ECEF, WGS84_3D)
    return Transformer.from_crs(_epsg(source), _epsg(target), always_xy=True)


def _geodetic_to_ecef(llh: Points) -> Points:
    x, y, z = _ecef_transformer(True).transform(llh[:, 0], llh[:, 1], llh[:, 2])
    return np.column_stack([x, y, z]).astype(np.float64)


def _ecef_to_geodetic(xyz: Points) -> Points:
    lon, lat, h = _ecef_transformer(False).transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    return np.column_stack([lon, lat, h]).astype(np.float64)


def choose_origin(llh: Points) -> tuple[float, float, float]:
    """The centre of the longitude/latitude bounding box, at the minimum height."""
    lo, hi = llh.min(axis=0), llh.max(axis=0)
    return (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2), float(lo[2]))


def source_to_local(
    source: SourceFrame, xyz: Points
) -> tuple[tuple[float, float, float], LocalFrame, Points]:
    """Transform source coordinates into the ENU frame of their own bounding-box origin."""
    llh = source.to_geodetic(xyz)
    if not np.isfinite(llh).all():
        bad = int(np.argmin(np.isfinite(llh).all(axis=1)))
        raise TransformFailed(
            f"cannot transform {xyz[bad].tolist()} from {source.crs.label}",
            crs=source.crs.label,
            point=", ".join(f"{v:.3f}" for v in xyz[bad]),
        )
    origin = choose_origin(llh)
    frame = LocalFrame(origin)
    return origin, frame, frame.from_geodetic(llh)


# --- axis order and area of use ----------------------------------------------------------


def area_fraction(source: CrsSource, xyz: Points) -> float:
    """The share of (sampled) points that fall inside the CRS's area of use."""
    area = to_pyproj(source.crs).area_of_use
    if area is None or len(xyz) == 0:
        return 1.0
    sample = xyz[:: max(1, len(xyz) // SAMPLE_SIZE)]
    llh = source.to_geodetic(sample)
    west, south, east, north = area.bounds
    m = AREA_MARGIN_DEG
    inside = (
        np.isfinite(llh).all(axis=1)
        & (llh[:, 0] >= west - m)
        & (llh[:, 0] <= east + m)
        & (llh[:, 1] >= south - m)
        & (llh[:, 1] <= north + m)
    )
    return float(inside.mean())


def fit_axis_order(crs: Crs, xyz: Points, *, swap_xy: bool = False) -> tuple[CrsSource, str]:
    """A source for `crs`, swapping x and y when only the swapped order lands in its area.

    Returns the source and a verdict: "ok", "swapped" or "outside" (neither order fits).
    """
    source = CrsSource(crs, swap_xy=swap_xy)
    if area_fraction(source, xyz) >= 0.5:
        return source, "ok"
    other = CrsSource(crs, swap_xy=not swap_xy)
    if area_fraction(other, xyz) >= 0.5:
        return other, "swapped"
    return source, "outside"


# --- whole scenes --------------------------------------------------------------------------


def _scene_arrays(scene: Scene) -> list[Points]:
    arrays: list[Points] = []
    for obj in scene.objects.values():
        arrays.extend(g.vertices for g in obj.geometry if len(g.vertices))
        if obj.footprint is not None:
            for ring in obj.footprint.rings:
                arr = np.array([(x, y, obj.footprint.base) for x, y in ring], dtype=np.float64)
                arrays.append(arr.reshape(-1, 3))
    return arrays


def scene_points(scene: Scene) -> Points:
    """Every coordinate of a scene (geometry vertices and footprint rings at their base)."""
    arrays = _scene_arrays(scene)
    return np.concatenate(arrays) if arrays else np.zeros((0, 3), dtype=np.float64)


def _scatter(scene: Scene, local: Points) -> None:
    at = 0
    for obj in scene.objects.values():
        for geom in obj.geometry:
            n = len(geom.vertices)
            if n:
                geom.vertices = np.ascontiguousarray(local[at : at + n])
                at += n
        if obj.footprint is not None:
            rings: list[list[tuple[float, float]]] = []
            bases: list[float] = []
            for ring in obj.footprint.rings:
                part = local[at : at + len(ring)]
                at += len(ring)
                rings.append([(float(x), float(y)) for x, y in part[:, :2]])
                bases.append(float(part[:, 2].mean()) if len(part) else obj.footprint.base)
            obj.footprint.rings = rings
            obj.footprint.base = round(bases[0], 4) if bases else obj.footprint.base


def _height_offset(source: SourceFrame, frame: LocalFrame, points: Points) -> float:
    """Local z minus source z at the centre of the data (to convert attribute elevations)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = np.array([[(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0]], dtype=np.float64)
    local = frame.from_geodetic(source.to_geodetic(centre))
    return float(local[0, 2])


def place_scene(scene: Scene, source: SourceFrame | None) -> None:
    """Move every coordinate of a scene from the source frame into its local ENU frame.

    Sets `scene.origin` and `scene.source_crs`; object elevations given in source heights
    are shifted by the same vertical offset. Without a source the coordinates are kept as
    metres and the origin is (0, 0, 0). Raises `TransformFailed` for impossible coordinates.
    """
    if source is None:
        scene.origin = (0.0, 0.0, 0.0)
        return
    scene.source_crs = source.crs
    points = scene_points(scene)
    if len(points) == 0:
        anchor = getattr(source, "anchor", None)
        scene.origin = anchor if anchor is not None else (0.0, 0.0, 0.0)
        return
    origin, frame, local = source_to_local(source, points)
    dz = _height_offset(source, frame, points)
    _scatter(scene, local)
    scene.origin = origin
    for obj in scene.objects.values():
        if obj.elevation is not None:
            obj.elevation = round(obj.elevation + dz, 4)


def georeference(
    scene: Scene,
    crs: Crs | None,
    *,
    location: str,
    authority_order: bool = False,
    warn_missing: bool = True,
) -> None:
    """Place a scene read in `crs` (None: local engineering frame), recording issues.

    `authority_order` says the file follows the CRS's own axis order (GML with EPSG URNs), so
    north-first CRSs give northing before easting; either way an order whose points fall
    outside the CRS's area of use is swapped when the other order fits, with a warning.
    """
    from shequ.cim.io.read import issue

    if crs is None:
        if warn_missing:
            scene.issues.append(issue(location, "cim.io.no_crs", "warning"))
        place_scene(scene, None)
        return
    scene.source_crs = crs
    points = scene_points(scene)
    swap = authority_order and north_first(crs)
    source, verdict = (
        fit_axis_order(crs, points, swap_xy=swap) if len(points) else (CrsSource(crs, swap), "ok")
    )
    if verdict == "swapped":
        scene.issues.append(issue(location, "cim.io.axis_swapped", "warning", crs=crs.label))
    elif verdict == "outside":
        scene.issues.append(issue(location, "cim.io.outside_area", "warning", crs=crs.label))
    try:
        place_scene(scene, source)
    except TransformFailed as exc:
        scene.issues.append(issue(location, exc.code, "error", **exc.params))
        place_scene(scene, None)
