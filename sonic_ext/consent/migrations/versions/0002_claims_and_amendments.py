"""Consents name their grantees, record their evidence's media type, and can be amended.

Consents recorded before this revision get no grantees: nobody may generate under them until an
admin amends them (`consent amend ID --grantee ...`). Failing closed is deliberate: 0.1.0 let any
requester use any consent, which is the hole this revision closes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("grantees", sa.JSON(), nullable=False,
                                   server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("evidence_media_type", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("supersedes", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("superseded_by")
        batch.drop_column("supersedes")
        batch.drop_column("evidence_media_type")
        batch.drop_column("grantees")
