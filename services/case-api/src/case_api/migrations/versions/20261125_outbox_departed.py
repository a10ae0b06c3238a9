"""Which departments a case event takes the case away from, so their handlers' live queues drop it.

Revision ID: 20261125_0011
Revises: 20261125_0010
Create Date: 2026-11-25 13:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0011"
down_revision: str | Sequence[str] | None = "20261125_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # A nullable column without a default: a catalogue change on PostgreSQL, not a rewrite of the outbox.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("departed", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("departed")
