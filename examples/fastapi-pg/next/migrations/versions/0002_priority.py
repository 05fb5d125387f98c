"""Task priority; the CSV import is gone, so is its table.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tasks", sa.Column("priority", sa.Integer, nullable=False, server_default="0")
    )
    op.drop_table("import_batches")


def downgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("filename", sa.Text, nullable=False),
    )
    op.drop_column("tasks", "priority")
