"""Which department a case's first response is counted for, so passing a case on does not pass its lateness on.

Revision ID: 20261125_0014
Revises: 20261125_0013
Create Date: 2026-11-25 07:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0014"
down_revision: str | Sequence[str] | None = "20261125_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable, no default: a catalogue change on PostgreSQL. Cases answered before it count, as they did, for the
    # department that holds them.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_response_department_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("first_response_department_id")
