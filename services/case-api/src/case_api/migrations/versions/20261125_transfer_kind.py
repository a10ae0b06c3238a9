"""What a row of case_transfers records: a transfer, a department's return, or the operators pulling a case back.

Revision ID: 20261125_0012
Revises: 20261125_0011
Create Date: 2026-11-25 06:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0012"
down_revision: str | Sequence[str] | None = "20261125_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # A constant default: a catalogue change on PostgreSQL, not a rewrite of the table.
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="transfer", nullable=False))
    # Until now only a department's return had no receiving department; staff pull-backs left no row.
    op.execute("UPDATE case_transfers SET kind = 'return' WHERE to_department_id IS NULL")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM case_transfers WHERE kind = 'recall'")  # unknown to the older schema's readers
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.drop_column("kind")
