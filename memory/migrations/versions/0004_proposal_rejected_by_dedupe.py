"""remediationproposal.rejected_by and dedupe_key (job-created proposals)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 17:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('remediationproposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejected_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_remediationproposal_dedupe_key'), ['dedupe_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('remediationproposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remediationproposal_dedupe_key'))
        batch_op.drop_column('dedupe_key')
        batch_op.drop_column('rejected_by')
