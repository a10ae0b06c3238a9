"""Intake's automatic dispatches go on the audit trail under the action's name, "dispatch", as operators' do.

Revision ID: 20261125_0013
Revises: 20261125_0012
Create Date: 2026-11-25 06:30:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "20261125_0013"
down_revision: str | Sequence[str] | None = "20261125_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Only intake wrote "dispatched" (its actor is the service); a reader filtering the trail by action found half.
    op.execute("UPDATE audit_entries SET action = 'dispatch' WHERE action = 'dispatched'")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("UPDATE audit_entries SET action = 'dispatched' WHERE action = 'dispatch' AND actor LIKE 'system:%'")
