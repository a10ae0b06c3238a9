"""Supervision and ratings: when each case becomes due soon, its SLA state, the citizen's rating;
automatic replies told apart from people's.

Revision ID: 20261124_0003
Revises: 20261124_0002
Create Date: 2026-11-24 05:29:21.638999

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261124_0003"
down_revision: str | Sequence[str] | None = "20261124_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_state", sa.String(length=10), nullable=False, server_default="ok"))
        batch_op.add_column(sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cases_sweep", ["sla_state", "warn_at"], unique=False)

    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("automatic")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_sweep")
        batch_op.drop_column("rated_at")
        batch_op.drop_column("rating")
        batch_op.drop_column("breached_at")
        batch_op.drop_column("sla_state")
        batch_op.drop_column("warn_at")
