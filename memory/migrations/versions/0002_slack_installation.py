"""slack installation (multi-workspace OAuth installation store)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slackinstallation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('enterprise_id', sa.String(length=64), nullable=True),
    sa.Column('enterprise_name', sa.String(length=200), nullable=True),
    sa.Column('enterprise_url', sa.String(length=500), nullable=True),
    sa.Column('team_name', sa.String(length=200), nullable=True),
    sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=True),
    sa.Column('bot_id', sa.String(length=64), nullable=True),
    sa.Column('bot_user_id', sa.String(length=64), nullable=True),
    sa.Column('bot_token', sa.String(), nullable=True),
    sa.Column('bot_scopes', sa.String(), nullable=False),
    sa.Column('bot_refresh_token', sa.String(), nullable=True),
    sa.Column('bot_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installer_user_id', sa.String(length=64), nullable=False),
    sa.Column('user_token', sa.String(), nullable=True),
    sa.Column('user_scopes', sa.String(), nullable=False),
    sa.Column('user_refresh_token', sa.String(), nullable=True),
    sa.Column('user_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('incoming_webhook_url', sa.String(), nullable=True),
    sa.Column('incoming_webhook_channel', sa.String(length=200), nullable=True),
    sa.Column('incoming_webhook_channel_id', sa.String(length=64), nullable=True),
    sa.Column('incoming_webhook_configuration_url', sa.String(), nullable=True),
    sa.Column('token_type', sa.String(length=32), nullable=True),
    sa.Column('custom_values', sa.JSON(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'installer_user_id', name='uq_slackinstallation_installer')
    )
    with op.batch_alter_table('slackinstallation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slackinstallation_installed_at'), ['installed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_slackinstallation_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('slackinstallation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slackinstallation_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_slackinstallation_installed_at'))

    op.drop_table('slackinstallation')
