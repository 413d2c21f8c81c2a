"""the standard address base and taught address aliases

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("house_code", sa.String(length=24), nullable=False),
        sa.Column("room_code", sa.String(length=32), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("street", sa.String(length=16), nullable=False),
        sa.Column("community", sa.String(length=16), nullable=False),
        sa.Column("road", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=8), nullable=False),
        sa.Column("estate", sa.String(length=60), nullable=False),
        sa.Column("building", sa.String(length=8), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("room", sa.String(length=8), nullable=True),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("normalised", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_code"], ["houses.code"], name=op.f("fk_addresses_house_code_houses")
        ),
        sa.ForeignKeyConstraint(
            ["room_code"], ["rooms.code"], name=op.f("fk_addresses_room_code_rooms")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_addresses")),
    )
    op.create_index("ix_addresses_grid_code_code", "addresses", ["grid_code", "code"])
    op.create_index("ix_addresses_house_code_room_code", "addresses", ["house_code", "room_code"])
    op.create_index(op.f("ix_addresses_text"), "addresses", ["text"])
    op.create_index(op.f("ix_addresses_normalised"), "addresses", ["normalised"])
    op.create_table(
        "address_aliases",
        sa.Column("normalised", sa.String(length=400), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("text", sa.String(length=400), nullable=False),
        sa.Column("taught_by", sa.String(length=128), nullable=False),
        sa.Column("taught_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["addresses.code"], name=op.f("fk_address_aliases_code_addresses")
        ),
        sa.PrimaryKeyConstraint("normalised", name=op.f("pk_address_aliases")),
    )
    op.create_index(op.f("ix_address_aliases_code"), "address_aliases", ["code"])
    op.create_index(op.f("ix_address_aliases_grid_code"), "address_aliases", ["grid_code"])


def downgrade() -> None:
    op.drop_table("address_aliases")
    op.drop_table("addresses")
