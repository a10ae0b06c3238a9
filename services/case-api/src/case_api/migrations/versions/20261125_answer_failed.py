"""When a case's latest answer failed to reach the citizen and who wrote it, so the case comes back to them; and
when a closing asked the citizen for a rating, so a score rates only a case that asked for one.

Revision ID: 20261125_0016
Revises: 20261125_0015
Create Date: 2026-11-25 09:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0016"
down_revision: str | Sequence[str] | None = "20261125_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable, no default: a catalogue change on PostgreSQL, no rewrite of the cases table.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answered_department_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rating_requested_at", sa.DateTime(timezone=True), nullable=True))
    # Until now every answered case's closing asked for a rating (where rating requests were switched on).
    op.execute("UPDATE cases SET rating_requested_at = closed_at WHERE status = 'closed' AND replied_at IS NOT NULL")
    # Replied cases whose latest answer already failed: the newest non-automatic, non-interim reply of each.
    op.execute(
        """
        UPDATE cases SET answer_failed_at = (
            SELECT coalesce(r.finished_at, r.created_at) FROM replies r
            WHERE r.case_id = cases.id AND r.automatic = false AND r.interim = false
            ORDER BY r.created_at DESC LIMIT 1
        )
        WHERE status = 'replied' AND EXISTS (
            SELECT 1 FROM replies r
            WHERE r.case_id = cases.id AND r.automatic = false AND r.interim = false AND r.status = 'failed'
            AND r.created_at = (
                SELECT max(l.created_at) FROM replies l
                WHERE l.case_id = cases.id AND l.automatic = false AND l.interim = false
            )
        )
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("rating_requested_at")
        batch_op.drop_column("answered_department_id")
        batch_op.drop_column("answer_failed_at")
