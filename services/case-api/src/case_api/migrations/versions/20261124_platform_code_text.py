"""A reply's platform code as text: platforms' codes are not bounded (Alipay's sub_codes pass 32 characters), and
a receipt whose code did not fit failed on PostgreSQL, leaving the reply "sending" for good.

Revision ID: 20261124_0006
Revises: 20261124_0005
Create Date: 2026-11-24 18:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261124_0006"
down_revision: str | Sequence[str] | None = "20261124_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.alter_column("platform_code", type_=sa.Text(), existing_type=sa.String(length=32))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.alter_column("platform_code", type_=sa.String(length=32), existing_type=sa.Text())
