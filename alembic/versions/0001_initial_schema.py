"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=255), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_devices'))
    )
    op.create_table('ingestion_batches',
    sa.Column('batch_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_name', sa.String(length=512), nullable=False),
    sa.Column('source_format', sa.String(length=16), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_ingestion_batches'))
    )
    with op.batch_alter_table('ingestion_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingestion_batches_source_sha256'), ['source_sha256'], unique=False)

    op.create_table('tickets',
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('stratum', sa.String(length=512), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('open_key', sa.String(length=700), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('open_key', name=op.f('uq_tickets_open_key')),
    sa.UniqueConstraint('seq', name=op.f('uq_tickets_seq'))
    )
    op.create_table('analysis_runs',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data_cutoff', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('software_version', sa.String(length=32), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('input_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_analysis_runs_device_id_devices')),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_analysis_runs'))
    )
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_runs_device_id_period'), ['device_id', 'period'], unique=False)

    op.create_table('device_config_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_device_config_versions_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_config_versions')),
    sa.UniqueConstraint('device_id', 'version', name=op.f('uq_device_config_versions_device_id_version'))
    )
    op.create_table('ground_truth',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('label', sa.SmallInteger(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('intervention_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('correction_reason', sa.Text(), nullable=True),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_latest', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'], name=op.f('fk_ground_truth_batch_id_ingestion_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ground_truth')),
    sa.UniqueConstraint('device_id', 'prediction_id', 'version', name=op.f('uq_ground_truth_device_id_prediction_id_version'))
    )
    with op.batch_alter_table('ground_truth', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ground_truth_device_id_prediction_id_is_latest'), ['device_id', 'prediction_id', 'is_latest'], unique=False)

    op.create_table('model_versions',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_model_versions_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', 'model_version', name=op.f('pk_model_versions'))
    )
    op.create_table('predictions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('predicted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('predicted_label', sa.SmallInteger(), nullable=False),
    sa.Column('patient_hash', sa.String(length=64), nullable=False),
    sa.Column('age', sa.Float(), nullable=True),
    sa.Column('sex', sa.String(length=16), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'], name=op.f('fk_predictions_batch_id_ingestion_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_predictions')),
    sa.UniqueConstraint('device_id', 'prediction_id', name=op.f('uq_predictions_device_id_prediction_id'))
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_predictions_device_id_predicted_at'), ['device_id', 'predicted_at'], unique=False)

    op.create_table('rejected_rows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=128), nullable=True),
    sa.Column('reason_code', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'], name=op.f('fk_rejected_rows_batch_id_ingestion_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_rows'))
    )
    with op.batch_alter_table('rejected_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rejected_rows_batch_id_row_number'), ['batch_id', 'row_number'], unique=False)

    op.create_table('sites',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_sites_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', 'site_id', name=op.f('pk_sites'))
    )
    op.create_table('findings',
    sa.Column('finding_id', sa.String(length=36), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('stratum', sa.String(length=512), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.run_id'], name=op.f('fk_findings_run_id_analysis_runs')),
    sa.PrimaryKeyConstraint('finding_id', name=op.f('pk_findings'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.run_id'], name=op.f('fk_reports_run_id_analysis_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('report_id', 'format', name=op.f('uq_reports_report_id_format'))
    )
    op.create_table('stratum_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('stratum', sa.String(length=512), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('successes', sa.Integer(), nullable=False),
    sa.Column('trials', sa.Integer(), nullable=False),
    sa.Column('estimate', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('claim', sa.Float(), nullable=True),
    sa.Column('margin', sa.Float(), nullable=True),
    sa.Column('p_value', sa.Float(), nullable=True),
    sa.Column('q_value', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('additional_needed', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.run_id'], name=op.f('fk_stratum_results_run_id_analysis_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stratum_results'))
    )
    with op.batch_alter_table('stratum_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stratum_results_run_id_stratum'), ['run_id', 'stratum'], unique=False)

    op.create_table('ticket_evidence',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('finding_id', sa.String(length=36), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.finding_id'], name=op.f('fk_ticket_evidence_finding_id_findings')),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_runs.run_id'], name=op.f('fk_ticket_evidence_run_id_analysis_runs')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], name=op.f('fk_ticket_evidence_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_evidence')),
    sa.UniqueConstraint('ticket_id', 'run_id', name=op.f('uq_ticket_evidence_ticket_id_run_id'))
    )



def downgrade() -> None:

    op.drop_table('ticket_evidence')
    with op.batch_alter_table('stratum_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stratum_results_run_id_stratum'))

    op.drop_table('stratum_results')
    op.drop_table('reports')
    op.drop_table('findings')
    op.drop_table('sites')
    with op.batch_alter_table('rejected_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rejected_rows_batch_id_row_number'))

    op.drop_table('rejected_rows')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_predictions_device_id_predicted_at'))

    op.drop_table('predictions')
    op.drop_table('model_versions')
    with op.batch_alter_table('ground_truth', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ground_truth_device_id_prediction_id_is_latest'))

    op.drop_table('ground_truth')
    op.drop_table('device_config_versions')
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_runs_device_id_period'))

    op.drop_table('analysis_runs')
    op.drop_table('tickets')
    with op.batch_alter_table('ingestion_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingestion_batches_source_sha256'))

    op.drop_table('ingestion_batches')
    op.drop_table('devices')
    op.drop_table('audit_log')

