"""Read paths at a million cases: the open queue in deadline order, a department's co-handled cases.

Revision ID: 20261124_0004
Revises: 20261124_0003
Create Date: 2026-11-24 07:05:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261124_0004"
down_revision: str | Sequence[str] | None = "20261124_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_open_due",
            ["due_at", "id"],
            unique=False,
            postgresql_where=sa.text("status <> 'closed'"),
            sqlite_where=sa.text("status <> 'closed'"),
        )

    with op.batch_alter_table("case_departments", schema=None) as batch_op:
        batch_op.create_index("ix_case_departments_department", ["department_id", "role"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("case_departments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_departments_department")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_due")
