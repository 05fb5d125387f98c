"""Initial schema: products, orders, order_lines; seed the catalog.

Revision ID: 0001_initial
Revises:
Create Date: 2024-05-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Data migration: the catalog every fresh environment starts with.
SEED_PRODUCTS = [
    {"sku": "BAG-CANVAS", "name": "Canvas tote bag", "price_cents": 1800, "stock": 40},
    {"sku": "CUP-ESPRESSO", "name": "Espresso cup", "price_cents": 950, "stock": 60},
    {"sku": "MUG-CLASSIC", "name": "Classic mug", "price_cents": 1200, "stock": 100},
    {"sku": "NOTE-A5", "name": "A5 notebook, dotted", "price_cents": 700, "stock": 150},
    {"sku": "PEN-BLACK", "name": "Fine liner pen, black", "price_cents": 250, "stock": 500},
    {"sku": "TEE-LOGO-M", "name": "Logo T-shirt, size M", "price_cents": 2500, "stock": 25},
]


def create_products() -> sa.Table:
    return op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.CheckConstraint("price_cents >= 0", name="ck_products_price_nonnegative"),
        sa.CheckConstraint("stock >= 0", name="ck_products_stock_nonnegative"),
    )


def create_orders() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, server_default="placed"),
        sa.Column("total_cents", sa.Integer, nullable=False),
    )
    op.create_table(
        "order_lines",
        sa.Column(
            "order_id",
            sa.Integer,
            sa.ForeignKey("orders.id", ondelete="CASCADE", name="fk_order_lines_order"),
            primary_key=True,
        ),
        sa.Column(
            "product_id",
            sa.Integer,
            sa.ForeignKey("products.id", name="fk_order_lines_product"),
            primary_key=True,
        ),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_order_lines_quantity_positive"),
    )
    op.create_index("ix_order_lines_product_id", "order_lines", ["product_id"])


def upgrade() -> None:
    products = create_products()
    create_orders()
    op.bulk_insert(products, SEED_PRODUCTS)


def downgrade() -> None:
    op.drop_index("ix_order_lines_product_id", table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_table("orders")
    op.drop_table("products")
