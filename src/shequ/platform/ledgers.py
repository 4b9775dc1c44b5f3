"""Ledgers the platform declares: the community's organisations (parties, requirement 1-1)."""

from __future__ import annotations

from shequ.kit.ledger import Ledger
from shequ.platform.models import Organisation
from shequ.platform.schemas import OrganisationCreate, OrganisationRead, OrganisationUpdate
from shequ.platform.security.fields import mask_phone

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
).register()
