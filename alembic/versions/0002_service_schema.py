"""service schema

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('token_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('secret_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_id', name=op.f('pk_api_tokens'))
    )
    op.create_table('completed_jobs',
    sa.Column('job_key', sa.String(length=255), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('job_key', name=op.f('pk_completed_jobs'))
    )
    op.create_table('job_locks',
    sa.Column('job_key', sa.String(length=255), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_key', name=op.f('pk_job_locks'))
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job_name', sa.String(length=64), nullable=False),
    sa.Column('job_key', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs'))
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_job_key', ['job_key'], unique=False)

    op.create_table('users',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_users'))
    )
    op.create_table('webhook_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_outbox'))
    )
    op.create_table('prediction_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('predicted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failure_code', sa.String(length=64), nullable=False),
    sa.Column('patient_hash', sa.String(length=64), nullable=False),
    sa.Column('age', sa.Float(), nullable=True),
    sa.Column('sex', sa.String(length=16), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('study_uid', sa.String(length=128), nullable=True),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'], name=op.f('fk_prediction_failures_batch_id_ingestion_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_failures')),
    sa.UniqueConstraint('device_id', 'prediction_id', name=op.f('uq_prediction_failures_device_id_prediction_id'))
    )
    with op.batch_alter_table('prediction_failures', schema=None) as batch_op:
        batch_op.create_index('ix_prediction_failures_device_time', ['device_id', 'predicted_at'], unique=False)

    op.create_table('prediction_retractions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('retracted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'], name=op.f('fk_prediction_retractions_batch_id_ingestion_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_retractions')),
    sa.UniqueConstraint('device_id', 'prediction_id', name=op.f('uq_prediction_retractions_device_id_prediction_id'))
    )
    op.create_table('ticket_comments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], name=op.f('fk_ticket_comments_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_comments'))
    )
    op.create_table('ticket_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], name=op.f('fk_ticket_transitions_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_transitions'))
    )
    op.create_table('report_revisions',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('supersedes', sa.String(length=36), nullable=True),
    sa.Column('languages', sa.String(length=32), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('audit_head', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.run_id'], name=op.f('fk_report_revisions_run_id_analysis_runs')),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_report_revisions')),
    sa.UniqueConstraint('device_id', 'period', 'revision', name=op.f('uq_report_revisions_device_id_period_revision'))
    )
    op.create_table('report_signatures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('printed_name', sa.String(length=255), nullable=False),
    sa.Column('meaning', sa.String(length=16), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['report_revisions.report_id'], name=op.f('fk_report_signatures_report_id_report_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_signatures')),
    sa.UniqueConstraint('report_id', 'meaning', 'user_id', name=op.f('uq_report_signatures_report_id_meaning_user_id'))
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study_uid', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('human_label', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('ai_volume_mm3', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_volume_mm3', sa.Float(), nullable=True))

    with op.batch_alter_table('rejected_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('resolved_batch_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('resolution_note', sa.Text(), nullable=True))

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_reports_report_id_format'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reports_report_id_format_language'), ['report_id', 'format', 'language'])

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('containment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('acceptance_criteria', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('data_collection_target', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_run_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('resolution')
        batch_op.drop_column('closed_run_id')
        batch_op.drop_column('data_collection_target')
        batch_op.drop_column('acceptance_criteria')
        batch_op.drop_column('containment')
        batch_op.drop_column('severity')

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reports_report_id_format_language'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reports_report_id_format'), ['report_id', 'format'])
        batch_op.drop_column('language')

    with op.batch_alter_table('rejected_rows', schema=None) as batch_op:
        batch_op.drop_column('resolution_note')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_batch_id')
        batch_op.drop_column('status')

    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_column('reviewed_volume_mm3')
        batch_op.drop_column('ai_volume_mm3')
        batch_op.drop_column('human_label')
        batch_op.drop_column('study_uid')

    op.drop_table('report_signatures')
    op.drop_table('report_revisions')
    op.drop_table('ticket_transitions')
    op.drop_table('ticket_comments')
    op.drop_table('prediction_retractions')
    with op.batch_alter_table('prediction_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_prediction_failures_device_time')

    op.drop_table('prediction_failures')
    op.drop_table('webhook_outbox')
    op.drop_table('users')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_job_key')

    op.drop_table('job_runs')
    op.drop_table('job_locks')
    op.drop_table('completed_jobs')
    op.drop_table('api_tokens')
