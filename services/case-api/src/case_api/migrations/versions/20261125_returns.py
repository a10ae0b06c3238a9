"""A transfer with no receiving department is a return: the case went back to the operators' queue, with the
department the returning one suggests. A case's transfers are shown with it: indexed by case.

Revision ID: 20261125_0010
Revises: 20261125_0009
Create Date: 2026-11-25 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0010"
down_revision: str | Sequence[str] | None = "20261125_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # On PostgreSQL a catalogue change (DROP NOT NULL), no rewrite; SQLite copies the small table.
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.alter_column("to_department_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("suggested_department_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_case_transfers_case", ["case_id", "at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM case_transfers WHERE to_department_id IS NULL")  # returns have no place before this
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_case_transfers_case")
        batch_op.drop_column("suggested_department_id")
        batch_op.alter_column("to_department_id", existing_type=sa.String(length=64), nullable=False)
