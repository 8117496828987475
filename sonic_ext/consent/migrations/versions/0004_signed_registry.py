"""Signed registry: a consent-key signature on subjects, consents and face references, the
audit event behind each consent's state, a signed checkpoint per audit event, and each
consent's status-list index and signed consent credential.

Rows recorded before this revision have no signature; the gate refuses them until an admin
adopts them (`sonic-ext consent adopt-unsigned`, which signs only rows the audit log recorded).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("subjects", "consents", "face_references"):
        op.add_column(table, sa.Column("signature", sa.Text(), nullable=True))
    op.add_column("consents", sa.Column("state_seq", sa.Integer(), nullable=True))
    op.add_column("consents", sa.Column("status_index", sa.Integer(), nullable=True))
    op.add_column("consents", sa.Column("credential", sa.Text(), nullable=True))
    op.create_index("ix_consents_status_index", "consents", ["status_index"], unique=True)
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop tables other rows refer to
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_consents_status_index", "consents")
    for column in ("credential", "status_index", "state_seq"):
        op.drop_column("consents", column)
    for table in ("face_references", "consents", "subjects"):
        op.drop_column(table, "signature")
