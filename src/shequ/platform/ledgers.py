"""Ledgers the platform declares: the community's organisations (parties, requirement 1-1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shequ.kit.ledger import Ledger
from shequ.platform.models import Organisation, OrganisationKind
from shequ.platform.schemas import OrganisationCreate, OrganisationRead, OrganisationUpdate
from shequ.platform.security.fields import mask_phone

KINDS = list(OrganisationKind)


def _example(_: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id, "name": f"示例单位{n:03d}", "kind": KINDS[n % len(KINDS)],
            "contact_person": f"联系人{n}", "contact_phone": f"1380000{n:04d}",
            "is_key_unit": n % 2 == 0, "credit_code": "91330100MA2GL1234Y" if n == 0 else None}


organisations = Ledger(
    name="organisations",
    model=Organisation,
    create_schema=OrganisationCreate,
    update_schema=OrganisationUpdate,
    read_schema=OrganisationRead,
    label=("社区组织", "Organisations"),
    labels={
        "kind": ("类型", "Kind"),
        "credit_code": ("统一社会信用代码", "Unified social credit code"),
        "contact_person": ("联系人", "Contact person"),
        "contact_phone": ("联系电话", "Contact phone"),
        "is_key_unit": ("重点单位", "Key unit"),
    },
    filterable=("kind", "is_key_unit", "name", "created_at"),
    sortable=("id", "name", "kind", "created_at", "updated_at"),
    search=("name", "contact_person", "address"),
    default_sort=("name",),
    public_within_community=True,
    personal={"contact_phone": mask_phone},
    layer="dynamic",
    example=_example,
).register()
