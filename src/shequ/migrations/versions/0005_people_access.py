"""people and access: persons, residency, vehicles, organisation staff, key units, rentals;
doors, credentials, pass records, watch-lists, visitors, self-registrations

On PostgreSQL, `pass_records` is partitioned by range on `occurred_at`, one partition per UTC
month (pass_records_pYYYYMM), with a default partition for stragglers (an offline controller
syncing very old records). `shequ_pass_partitions(months_back, months_ahead)` creates missing
months, moving any of their rows out of the default partition first; retention calls
`shequ_pass_drop_before(cutoff)`, which drops whole months. The primary key is
(id, occurred_at) there, as partitioning requires. SQLite keeps a plain table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequ.kit.db
import shequ.platform.security.fields

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


POSTGRES_PASS_RECORDS = (
    """
    CREATE TABLE pass_records (
        id BIGSERIAL NOT NULL,
        community_id BIGINT NOT NULL,
        occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL,
        deleted_at TIMESTAMP WITH TIME ZONE,
        door_id BIGINT,
        device_id BIGINT,
        building_id BIGINT,
        subject VARCHAR(8) NOT NULL,
        person_id BIGINT,
        vehicle_id BIGINT,
        visitor_id BIGINT,
        credential_id BIGINT,
        plate VARCHAR(10),
        direction VARCHAR(3) NOT NULL,
        method VARCHAR(12) NOT NULL,
        result VARCHAR(8) NOT NULL,
        reason VARCHAR(40),
        snapshot_key VARCHAR(200),
        source_key VARCHAR(64),
        CONSTRAINT pk_pass_records PRIMARY KEY (id, occurred_at)
    ) PARTITION BY RANGE (occurred_at)
    """,
    "CREATE INDEX ix_pass_records_community_time ON pass_records (community_id, occurred_at) "
    "WHERE deleted_at IS NULL",
    "CREATE INDEX ix_pass_records_person_time ON pass_records "
    "(community_id, person_id, occurred_at) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_pass_records_plate_time ON pass_records "
    "(community_id, plate, occurred_at) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_pass_records_door_time ON pass_records "
    "(community_id, door_id, occurred_at) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX uq_pass_records_source ON pass_records "
    "(device_id, source_key, occurred_at) WHERE source_key IS NOT NULL",
    "CREATE TABLE pass_records_default PARTITION OF pass_records DEFAULT",
    """
    CREATE OR REPLACE FUNCTION shequ_pass_partitions(months_back integer, months_ahead integer)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
        month date;
        low timestamptz;
        high timestamptz;
        name text;
        created integer := 0;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('shequ_pass_partitions'));
        FOR month IN SELECT generate_series(this_month - make_interval(months => months_back),
                                            this_month + make_interval(months => months_ahead),
                                            interval '1 month')::date LOOP
            name := 'pass_records_p' || to_char(month, 'YYYYMM');
            IF to_regclass(name) IS NULL THEN
                low := month::timestamp AT TIME ZONE 'UTC';
                high := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
                EXECUTE format('CREATE TABLE %I (LIKE pass_records INCLUDING DEFAULTS)', name);
                EXECUTE format('WITH moved AS (DELETE FROM pass_records_default '
                               'WHERE occurred_at >= %L AND occurred_at < %L RETURNING *) '
                               'INSERT INTO %I SELECT * FROM moved', low, high, name);
                EXECUTE format('ALTER TABLE pass_records ATTACH PARTITION %I '
                               'FOR VALUES FROM (%L) TO (%L)', name, low, high);
                created := created + 1;
            END IF;
        END LOOP;
        RETURN created;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION shequ_pass_drop_before(cutoff timestamptz)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        part record;
        dropped integer := 0;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('shequ_pass_partitions'));
        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'pass_records'::regclass LOOP
            IF part.relname ~ '^pass_records_p[0-9]{6}$' AND
               (to_date(substr(part.relname, 15), 'YYYYMM') + interval '1 month')::timestamp
               AT TIME ZONE 'UTC' <= cutoff THEN
                EXECUTE format('DROP TABLE %I', part.relname);
                dropped := dropped + 1;
            END IF;
        END LOOP;
        RETURN dropped;
    END $$
    """,
    "SELECT shequ_pass_partitions(3, 2)",
)
POSTGRES_DOWNGRADE = (
    "DROP FUNCTION IF EXISTS shequ_pass_drop_before(timestamptz)",
    "DROP FUNCTION IF EXISTS shequ_pass_partitions(integer, integer)",
    "DROP TABLE IF EXISTS pass_records CASCADE",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    if _postgres():
        for statement in POSTGRES_PASS_RECORDS:
            op.execute(statement)
    else:
        op.create_table('pass_records',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('occurred_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column('door_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('device_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('subject', sa.String(length=8), nullable=False),
        sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('vehicle_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('visitor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('credential_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('plate', sa.String(length=10), nullable=True),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('method', sa.String(length=12), nullable=False),
        sa.Column('result', sa.String(length=8), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=True),
        sa.Column('snapshot_key', sa.String(length=200), nullable=True),
        sa.Column('source_key', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pass_records'))
        )
        with op.batch_alter_table('pass_records', schema=None) as batch_op:
            batch_op.create_index('ix_pass_records_community_time', ['community_id', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.create_index('ix_pass_records_door_time', ['community_id', 'door_id', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.create_index('ix_pass_records_person_time', ['community_id', 'person_id', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.create_index('ix_pass_records_plate_time', ['community_id', 'plate', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.create_index('uq_pass_records_source', ['device_id', 'source_key', 'occurred_at'], unique=True, sqlite_where=sa.text('source_key IS NOT NULL'), postgresql_where=sa.text('source_key IS NOT NULL'))

    op.create_table('access_sequences',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_access_sequences_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_access_sequences'))
    )
    op.create_table('doors',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('device_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('place', sa.String(length=100), nullable=True),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('perimeter', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_doors_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_doors_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doors'))
    )
    with op.batch_alter_table('doors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doors_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_doors_community_kind', ['community_id', 'kind', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_doors_community_device', ['community_id', 'device_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND device_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND device_id IS NOT NULL'))

    op.create_table('persons',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('gender', sa.String(length=8), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('ethnicity', sa.String(length=20), nullable=True),
    sa.Column('id_type', sa.String(length=20), nullable=False),
    sa.Column('id_number', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('id_index', sa.String(length=64), nullable=True),
    sa.Column('phone', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('population', sa.String(length=16), nullable=False),
    sa.Column('identity', sa.String(length=16), nullable=False),
    sa.Column('is_key_person', sa.Boolean(), nullable=False),
    sa.Column('key_category', sa.String(length=40), nullable=True),
    sa.Column('care_tags', sa.JSON(), nullable=False),
    sa.Column('domicile', sa.String(length=200), nullable=True),
    sa.Column('face_photo_key', sa.String(length=200), nullable=True),
    sa.Column('household_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_persons_community_id_communities')),
    sa.ForeignKeyConstraint(['household_id'], ['rooms.id'], name=op.f('fk_persons_household_id_rooms')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_persons_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index('ix_persons_community_household', ['community_id', 'household_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_persons_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_persons_community_name', ['community_id', 'name'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_persons_community_population', ['community_id', 'population', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_persons_phone_index', ['community_id', 'phone_index'], unique=False)
        batch_op.create_index('uq_persons_community_id_index', ['community_id', 'id_index'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('key_units',
    sa.Column('organisation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('risk_level', sa.String(length=8), nullable=False),
    sa.Column('risk_notes', sa.Text(), nullable=True),
    sa.Column('safety_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_inspected_on', sa.Date(), nullable=True),
    sa.Column('next_inspection_due', sa.Date(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_key_units_community_id_communities')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_key_units_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['safety_person_id'], ['persons.id'], name=op.f('fk_key_units_safety_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_units'))
    )
    with op.batch_alter_table('key_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_units_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_key_units_community_risk', ['community_id', 'risk_level', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_key_units_organisation', ['organisation_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('organisation_staff',
    sa.Column('organisation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.String(length=60), nullable=True),
    sa.Column('since_date', sa.Date(), nullable=True),
    sa.Column('until_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_organisation_staff_community_id_communities')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_staff_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_organisation_staff_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_staff'))
    )
    with op.batch_alter_table('organisation_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_staff_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_organisation_staff_org', ['community_id', 'organisation_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_organisation_staff_person', ['person_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_organisation_staff_open', ['organisation_id', 'person_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND until_date IS NULL'), postgresql_where=sa.text('deleted_at IS NULL AND until_date IS NULL'))

    op.create_table('rentals',
    sa.Column('room_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('landlord_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('tenant_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('lease_start', sa.Date(), nullable=False),
    sa.Column('lease_end', sa.Date(), nullable=False),
    sa.Column('monthly_rent', sa.Float(), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('occupants', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('filed', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_rentals_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_rentals_community_id_communities')),
    sa.ForeignKeyConstraint(['landlord_person_id'], ['persons.id'], name=op.f('fk_rentals_landlord_person_id_persons')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_rentals_room_id_rooms')),
    sa.ForeignKeyConstraint(['tenant_person_id'], ['persons.id'], name=op.f('fk_rentals_tenant_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rentals'))
    )
    with op.batch_alter_table('rentals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rentals_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_rentals_community_status', ['community_id', 'status', 'lease_end'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_rentals_room', ['room_id', 'lease_start'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('residencies',
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('room_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('is_householder', sa.Boolean(), nullable=False),
    sa.Column('move_in_date', sa.Date(), nullable=False),
    sa.Column('move_out_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_residencies_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_residencies_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_residencies_person_id_persons')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_residencies_room_id_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_residencies'))
    )
    with op.batch_alter_table('residencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_residencies_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_residencies_community_room', ['community_id', 'room_id', 'move_in_date'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_residencies_person', ['person_id', 'move_in_date'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_residencies_open', ['person_id', 'room_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND move_out_date IS NULL'), postgresql_where=sa.text('deleted_at IS NULL AND move_out_date IS NULL'))

    op.create_table('vehicles',
    sa.Column('plate', sa.String(length=10), nullable=False),
    sa.Column('plate_kind', sa.String(length=20), nullable=False),
    sa.Column('vehicle_type', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('owner_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('room_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('brand', sa.String(length=40), nullable=True),
    sa.Column('colour', sa.String(length=20), nullable=True),
    sa.Column('parking_space_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_vehicles_community_id_communities')),
    sa.ForeignKeyConstraint(['owner_person_id'], ['persons.id'], name=op.f('fk_vehicles_owner_person_id_persons')),
    sa.ForeignKeyConstraint(['parking_space_id'], ['parking_spaces.id'], name=op.f('fk_vehicles_parking_space_id_parking_spaces')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_vehicles_room_id_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles'))
    )
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.create_index('ix_vehicles_community_category', ['community_id', 'category', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_vehicles_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_vehicles_owner', ['owner_person_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_vehicles_room', ['room_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_vehicles_community_plate', ['community_id', 'plate'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('visitors',
    sa.Column('room_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('host_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('phone', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('id_type', sa.String(length=20), nullable=True),
    sa.Column('id_number', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('id_index', sa.String(length=64), nullable=True),
    sa.Column('plate', sa.String(length=10), nullable=True),
    sa.Column('purpose', sa.String(length=100), nullable=True),
    sa.Column('party_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('window_start', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('window_end', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=200), nullable=True),
    sa.Column('ticket_digest', sa.String(length=64), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_visitors_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_visitors_community_id_communities')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_visitors_decided_by_users')),
    sa.ForeignKeyConstraint(['host_person_id'], ['persons.id'], name=op.f('fk_visitors_host_person_id_persons')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_visitors_room_id_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visitors')),
    sa.UniqueConstraint('ticket_digest', name=op.f('uq_visitors_ticket_digest'))
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visitors_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_visitors_community_status', ['community_id', 'status', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_visitors_community_window', ['community_id', 'window_start'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_visitors_id_index'), ['id_index'], unique=False)
        batch_op.create_index('ix_visitors_phone_index', ['community_id', 'phone_index'], unique=False)
        batch_op.create_index('ix_visitors_room', ['room_id', 'window_start'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('watchlists',
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('plate', sa.String(length=10), nullable=True),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('active_from', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('active_until', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_watchlists_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_watchlists_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watchlists'))
    )
    with op.batch_alter_table('watchlists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watchlists_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_watchlists_community_state', ['community_id', 'state', 'kind'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('credentials',
    sa.Column('serial', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('visitor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('identifier', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('identifier_index', sa.String(length=64), nullable=True),
    sa.Column('building_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('valid_from', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('revoked_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.String(length=200), nullable=True),
    sa.Column('change_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_credentials_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_credentials_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_credentials_person_id_persons')),
    sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], name=op.f('fk_credentials_visitor_id_visitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('serial', name=op.f('uq_credentials_serial'))
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_credentials_community_seq', ['community_id', 'change_seq'], unique=False)
        batch_op.create_index('ix_credentials_person', ['person_id', 'kind'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_credentials_visitor', ['visitor_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('uq_credentials_active_identifier', ['community_id', 'kind', 'identifier_index'], unique=True, sqlite_where=sa.text("deleted_at IS NULL AND state = 'active' AND identifier_index IS NOT NULL"), postgresql_where=sa.text("deleted_at IS NULL AND state = 'active' AND identifier_index IS NOT NULL"))

    op.create_table('watchlist_hits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('watchlist_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pass_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('plate', sa.String(length=10), nullable=True),
    sa.Column('door_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('occurred_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_watchlist_hits_community_id_communities')),
    sa.ForeignKeyConstraint(['watchlist_id'], ['watchlists.id'], name=op.f('fk_watchlist_hits_watchlist_id_watchlists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watchlist_hits'))
    )
    with op.batch_alter_table('watchlist_hits', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_hits_community_time', ['community_id', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_watchlist_hits_watchlist', ['watchlist_id', 'occurred_at'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('registrations',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('id_type', sa.String(length=20), nullable=False),
    sa.Column('id_number', shequ.platform.security.fields.EncryptedText(), nullable=False),
    sa.Column('id_index', sa.String(length=64), nullable=False),
    sa.Column('phone', shequ.platform.security.fields.EncryptedText(), nullable=True),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('face_photo_key', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=200), nullable=True),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('credential_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('ticket_digest', sa.String(length=64), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', shequ.kit.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_registrations_community_id_communities')),
    sa.ForeignKeyConstraint(['credential_id'], ['credentials.id'], name=op.f('fk_registrations_credential_id_credentials')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_registrations_decided_by_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_registrations_person_id_persons')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_registrations_room_id_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('ticket_digest', name=op.f('uq_registrations_ticket_digest'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_registrations_community_status', ['community_id', 'status', 'id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_registrations_id_index'), ['id_index'], unique=False)

    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_id_index'))
        batch_op.drop_index('ix_registrations_community_status', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_registrations_community_id'))

    op.drop_table('registrations')
    with op.batch_alter_table('watchlist_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_hits_watchlist', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_watchlist_hits_community_time', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.drop_table('watchlist_hits')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index('uq_credentials_active_identifier', sqlite_where=sa.text("deleted_at IS NULL AND state = 'active' AND identifier_index IS NOT NULL"), postgresql_where=sa.text("deleted_at IS NULL AND state = 'active' AND identifier_index IS NOT NULL"))
        batch_op.drop_index('ix_credentials_visitor', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_credentials_person', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_credentials_community_seq')
        batch_op.drop_index(batch_op.f('ix_credentials_community_id'))

    op.drop_table('credentials')
    with op.batch_alter_table('watchlists', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlists_community_state', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_watchlists_community_id'))

    op.drop_table('watchlists')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_index('ix_visitors_room', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_visitors_phone_index')
        batch_op.drop_index(batch_op.f('ix_visitors_id_index'))
        batch_op.drop_index('ix_visitors_community_window', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_visitors_community_status', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_visitors_community_id'))

    op.drop_table('visitors')
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_index('uq_vehicles_community_plate', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_vehicles_room', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_vehicles_owner', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_vehicles_community_id'))
        batch_op.drop_index('ix_vehicles_community_category', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.drop_table('vehicles')
    with op.batch_alter_table('residencies', schema=None) as batch_op:
        batch_op.drop_index('uq_residencies_open', sqlite_where=sa.text('deleted_at IS NULL AND move_out_date IS NULL'), postgresql_where=sa.text('deleted_at IS NULL AND move_out_date IS NULL'))
        batch_op.drop_index('ix_residencies_person', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_residencies_community_room', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_residencies_community_id'))

    op.drop_table('residencies')
    with op.batch_alter_table('rentals', schema=None) as batch_op:
        batch_op.drop_index('ix_rentals_room', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_rentals_community_status', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_rentals_community_id'))

    op.drop_table('rentals')
    with op.batch_alter_table('organisation_staff', schema=None) as batch_op:
        batch_op.drop_index('uq_organisation_staff_open', sqlite_where=sa.text('deleted_at IS NULL AND until_date IS NULL'), postgresql_where=sa.text('deleted_at IS NULL AND until_date IS NULL'))
        batch_op.drop_index('ix_organisation_staff_person', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_organisation_staff_org', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_organisation_staff_community_id'))

    op.drop_table('organisation_staff')
    with op.batch_alter_table('key_units', schema=None) as batch_op:
        batch_op.drop_index('uq_key_units_organisation', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_key_units_community_risk', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_key_units_community_id'))

    op.drop_table('key_units')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('uq_persons_community_id_index', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_persons_phone_index')
        batch_op.drop_index('ix_persons_community_population', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_persons_community_name', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_persons_community_id'))
        batch_op.drop_index('ix_persons_community_household', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.drop_table('persons')
    with op.batch_alter_table('doors', schema=None) as batch_op:
        batch_op.drop_index('uq_doors_community_device', sqlite_where=sa.text('deleted_at IS NULL AND device_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND device_id IS NOT NULL'))
        batch_op.drop_index('ix_doors_community_kind', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_doors_community_id'))

    op.drop_table('doors')
    op.drop_table('access_sequences')
    if _postgres():
        for statement in POSTGRES_DOWNGRADE:
            op.execute(statement)
    else:
        with op.batch_alter_table('pass_records', schema=None) as batch_op:
            batch_op.drop_index('uq_pass_records_source', sqlite_where=sa.text('source_key IS NOT NULL'), postgresql_where=sa.text('source_key IS NOT NULL'))
            batch_op.drop_index('ix_pass_records_plate_time', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.drop_index('ix_pass_records_person_time', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.drop_index('ix_pass_records_door_time', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
            batch_op.drop_index('ix_pass_records_community_time', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

        op.drop_table('pass_records')
    # ### end Alembic commands ###
