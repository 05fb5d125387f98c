"""Integration tests stageline's `pytest` gate runs against a deployed shop (staging).

They talk to the running service over HTTP only, through the fixtures of stageline's
pytest plugin (`stageline_http`, `database_url`), so they test that very release with
that environment's configuration and its real PostgreSQL.
"""

from __future__ import annotations

import httpx
import psycopg


def test_health_reports_this_environment(stageline_http: httpx.Client) -> None:
    health = stageline_http.get("/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["digest"], "stageline passes the artifact digest to the service"


def test_catalogue_is_served(stageline_http: httpx.Client) -> None:
    products = stageline_http.get("/products").json()
    assert products and all(p["price_cents"] > 0 for p in products)


def test_order_round_trip_decrements_stock(stageline_http: httpx.Client) -> None:
    product = next(p for p in stageline_http.get("/products").json() if p["stock"] > 0)
    placed = stageline_http.post(
        "/orders",
        json={
            "customer_email": "gate@example.com",
            "lines": [{"sku": product["sku"], "quantity": 1}],
        },
    )
    assert placed.status_code == 201, placed.text
    order = stageline_http.get(f"/orders/{placed.json()['id']}").json()
    assert order["total_cents"] == product["price_cents"]
    after = {p["sku"]: p for p in stageline_http.get("/products").json()}
    assert after[product["sku"]]["stock"] == product["stock"] - 1


def test_schema_is_at_the_release_head(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None and row[0]
