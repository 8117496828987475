"""Queue mode's jobs and workers: one row per generation job, shared by every API replica and
worker, and one per worker process (what `GET /workers` shows).

The row holds what `GET /jobs/{id}` shows (state, progress, result, error, the worker running
it) and what a worker needs to run it (the request, by paths on the shared store). It lives in
the registry's database, so the job and its queue entry commit in one transaction
(`sonic_ext/adapters/queue`). Unused outside queue mode.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_jobs",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("gate_audit_seq", sa.Integer(), nullable=True),  # the API's decision
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_queue_jobs_owner_created", "queue_jobs", ["owner", "created_at"])
    op.create_table(
        "queue_workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("last_seen", sa.String(32), nullable=False),
        sa.Column("stall_timeout_s", sa.Float(), nullable=False),
        sa.Column("job_id", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("queue_workers")
    op.drop_table("queue_jobs")
