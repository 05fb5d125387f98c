"""Add a nullable note: the previous release keeps working."""

from alembic import op

revision = "0002_items_note"
down_revision = "0001_items"


def upgrade() -> None:
    op.execute("ALTER TABLE items ADD COLUMN note text")


def downgrade() -> None:
    op.execute("ALTER TABLE items DROP COLUMN note")
