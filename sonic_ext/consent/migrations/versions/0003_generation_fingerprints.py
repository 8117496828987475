"""Generations keep a perceptual fingerprint of their output.

A watermark ID can be copied onto other pictures; verification compares a stripped copy with
the fingerprint of the generation its mark names (`provenance/fingerprint.py`). Generations
recorded before this revision have none: their stripped copies verify as
`stripped-unconfirmed`, never as confirmed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("fingerprint", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("fingerprint")
