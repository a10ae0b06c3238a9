"""Replies still queued, oldest first: what the reply expiry reads on every sweep.

Revision ID: 20261125_0009
Revises: 20261124_0008
Create Date: 2026-11-25 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0009"
down_revision: str | Sequence[str] | None = "20261124_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _on_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    """Upgrade schema."""
    if _on_postgresql():
        # CONCURRENTLY: a plain CREATE INDEX blocks every insert and update of replies (intake's acknowledgements)
        # for as long as it reads them all. It cannot run in a transaction, so the migrations before it are
        # committed first. A build that failed leaves an invalid index behind: dropped here so a rerun builds it.
        with op.get_context().autocommit_block():
            op.drop_index("ix_replies_queued", table_name="replies", if_exists=True, postgresql_concurrently=True)
            op.create_index(
                "ix_replies_queued",
                "replies",
                ["created_at"],
                unique=False,
                postgresql_where=sa.text("status = 'queued'"),
                postgresql_concurrently=True,
            )
        return
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_replies_queued",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("status = 'queued'"),
            sqlite_where=sa.text("status = 'queued'"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    if _on_postgresql():
        with op.get_context().autocommit_block():
            op.drop_index("ix_replies_queued", table_name="replies", postgresql_concurrently=True)
        return
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_queued")
