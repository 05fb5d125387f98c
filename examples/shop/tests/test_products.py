"""GET /products."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_products_are_listed_by_sku(client: TestClient) -> None:
    response = client.get("/products")
    assert response.status_code == 200
    assert response.json() == [
        {"sku": "TEST-A", "name": "Test product A", "price_cents": 500, "stock": 10},
        {"sku": "TEST-B", "name": "Test product B", "price_cents": 1250, "stock": 2},
        {"sku": "TEST-C", "name": "Sold-out product", "price_cents": 999, "stock": 0},
    ]
