"""The Alembic chain: it seeds the catalog and its downgrade path works."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

SHOP_TABLES = {"products", "orders", "order_lines"}


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_downgrade_to_base_then_upgrade_to_head(alembic_config: Config, engine: Engine) -> None:
    command.downgrade(alembic_config, "base")
    assert tables(engine) == set()

    command.upgrade(alembic_config, "head")
    assert tables(engine) == SHOP_TABLES
    with engine.connect() as connection:
        skus = connection.execute(text("SELECT sku FROM products ORDER BY sku")).scalars().all()
    assert "MUG-CLASSIC" in skus
    assert len(skus) == 6
