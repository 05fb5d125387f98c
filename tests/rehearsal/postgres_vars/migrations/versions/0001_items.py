"""Create items."""

from alembic import op

revision = "0001_items"
down_revision = None


def upgrade() -> None:
    op.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, legacy text)")
    op.execute("INSERT INTO items (name, legacy) VALUES ('canary', 'kept')")


def downgrade() -> None:
    op.execute("DROP TABLE items")
