"""Which department a rating and a reopening count for, so a case dispatched elsewhere does not take them along.

Revision ID: 20261125_0015
Revises: 20261125_0014
Create Date: 2026-11-25 07:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0015"
down_revision: str | Sequence[str] | None = "20261125_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable, no default: catalogue changes on PostgreSQL. Older cases count, as they did, for their department.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rated_department_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reopened_department_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("reopened_department_id")
        batch_op.drop_column("rated_department_id")
