"""The demo community (code DEMO): regions, parties and one log-in per built-in role.

Each layer adds its part of the demo here as it lands (CIM model, devices, people, cases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.platform.models import Community, Organisation, OrganisationKind, RegionLevel, ScopeKind
from shequ.platform.scoping import SYSTEM
from shequ.platform.service import PlatformService

DEMO_CODE = "DEMO"
DEMO_PASSWORD = "Shequ@Demo2026"  # noqa: S105 (demo accounts only)

REGIONS = (
    ("HZ", "杭州市", RegionLevel.city, None),
    ("HZ-XH", "西湖区", RegionLevel.district, "HZ"),
    ("HZ-XH-CY", "翠苑街道", RegionLevel.street, "HZ-XH"),
)

PARTIES = (
    ("翠苑一区社区居民委员会", OrganisationKind.residents_committee),
    ("翠苑一区业主委员会", OrganisationKind.owners_committee),
    ("杭州绿城物业服务有限公司翠苑分公司", OrganisationKind.property_company),
    ("翠苑街道办事处", OrganisationKind.street_office),
    ("邻里便民家政服务有限公司", OrganisationKind.service_company),
    ("翠苑邻里商业管理有限公司", OrganisationKind.commercial_company),
)


@dataclass(frozen=True)
class DemoLogin:
    """A demo account to print for the person trying the platform."""

    username: str
    role: str
    scope: str


STAFF = (
    ("admin", "platform_admin", "平台管理员", ScopeKind.platform),
    ("street", "street_officer", "街道工作人员", ScopeKind.region),
    ("committee", "community_committee", "居委会工作人员", ScopeKind.community),
    ("property", "property_manager", "物业经理", ScopeKind.community),
    ("security", "security_operator", "安防值班员", ScopeKind.community),
    ("repair", "maintenance_worker", "维修师傅", ScopeKind.community),
    ("provider", "service_provider", "家政服务商", ScopeKind.community),
)

Step = Callable[[Session, PlatformService, Community], None]


def _cim(session: Session, platform: PlatformService, community: Community) -> None:
    from shequ.demo.community import load_cim

    load_cim(session, platform, community)


def _people(session: Session, platform: PlatformService, community: Community) -> None:
    from shequ.demo.people import load_people

    load_people(session, platform, community)


STEPS: list[tuple[str, Step]] = [("CIM: buildings, register, facilities, IFC model", _cim),
                                 ("People: residents, households, vehicles, a month of passes",
                                  _people)]
"""Each layer appends (label, step) to fill the demo community with its data."""


def demo_exists(session: Session) -> bool:
    """Whether the demo community is already loaded."""
    return session.scalar(select(Community.id).where(Community.code == DEMO_CODE)) is not None


def load_foundation(session: Session, platform: PlatformService) -> Community:
    """Regions, the DEMO community, its six parties and one user per staff role."""
    for code, name, level, parent in REGIONS:
        platform.create_region(session, SYSTEM, code, name, level, parent)
    community = platform.create_community(session, SYSTEM, DEMO_CODE, "翠苑一区（演示社区）",
                                          "HZ-XH-CY", "浙江省杭州市西湖区翠苑街道文二西路")
    for name, kind in PARTIES:
        session.add(Organisation(community_id=community.id, name=name, kind=kind,
                                 contact_person="王经理", contact_phone="0571-88000000"))
    street = session.scalar(select(Community.region_id).where(Community.id == community.id))
    for username, role, display, scope in STAFF:
        user = platform.create_user(session, SYSTEM, username, DEMO_PASSWORD,
                                    display_name=display)
        platform.assign_role(session, SYSTEM, user, role, scope, community=(
            community if scope == ScopeKind.community else None),
            scope_id=street if scope == ScopeKind.region else None)
    session.flush()
    return community


def logins() -> list[DemoLogin]:
    """The demo accounts (all share DEMO_PASSWORD)."""
    return [DemoLogin(u, r, d) for u, r, d, _ in STAFF]
