"""processedevent.received_at index (the retention job deletes old rows by it)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 18:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('processedevent', schema=None) as batch_op:
        batch_op.create_index('ix_processedevent_received_at', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('processedevent', schema=None) as batch_op:
        batch_op.drop_index('ix_processedevent_received_at')
