"""POST /orders and GET /orders/{id}: the critical path."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shop.orders import OutOfStockError, place_order
from shop.schemas import OrderIn
from sqlalchemy.orm import Session, sessionmaker

Stock = Callable[[str], int]


def order(*lines: tuple[str, int], email: str = "ada@example.com") -> dict[str, Any]:
    return {
        "customer_email": email,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }


def test_order_is_created_and_stock_decremented(client: TestClient, stock: Stock) -> None:
    response = client.post("/orders", json=order(("TEST-A", 3), ("TEST-B", 2)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["total_cents"] == 3 * 500 + 2 * 1250
    assert body["status"] == "placed"
    assert body["customer_email"] == "ada@example.com"
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [
        ("TEST-A", 3),
        ("TEST-B", 2),
    ]
    assert (stock("TEST-A"), stock("TEST-B")) == (7, 0)


def test_get_order_returns_what_was_placed(client: TestClient) -> None:
    placed = client.post("/orders", json=order(("TEST-A", 1))).json()
    response = client.get(f"/orders/{placed['id']}")
    assert response.status_code == 200
    # The payment outcome is part of POST's answer only; it is not stored.
    assert placed.pop("payment") == {"id": f"sim-{placed['id']}", "status": "simulated"}
    assert response.json() == placed


def test_unknown_order_is_404(client: TestClient) -> None:
    assert client.get("/orders/424242").status_code == 404


def test_unknown_sku_is_404_and_changes_nothing(client: TestClient, stock: Stock) -> None:
    response = client.post("/orders", json=order(("TEST-A", 1), ("NOPE-1", 1)))
    assert response.status_code == 404
    assert "NOPE-1" in response.json()["detail"]
    assert stock("TEST-A") == 10


def test_out_of_stock_is_409_and_leaves_stock_unchanged(client: TestClient, stock: Stock) -> None:
    response = client.post("/orders", json=order(("TEST-A", 4), ("TEST-B", 3)))
    assert response.status_code == 409
    assert "TEST-B" in response.json()["detail"]
    assert (stock("TEST-A"), stock("TEST-B")) == (10, 2)
    assert client.post("/orders", json=order(("TEST-C", 1))).status_code == 409


@pytest.mark.parametrize(
    "payload",
    [
        {"customer_email": "not-an-email", "lines": [{"sku": "TEST-A", "quantity": 1}]},
        {"customer_email": "ada@example.com", "lines": []},
        {"customer_email": "ada@example.com", "lines": [{"sku": "TEST-A", "quantity": 0}]},
        {"customer_email": "ada@example.com", "lines": [{"sku": "TEST-A"}]},
        order(("TEST-A", 1), ("TEST-A", 2)),
        {"lines": [{"sku": "TEST-A", "quantity": 1}]},
    ],
    ids=["bad-email", "no-lines", "zero-quantity", "no-quantity", "duplicate-sku", "no-email"],
)
def test_bad_input_is_422(client: TestClient, stock: Stock, payload: dict[str, Any]) -> None:
    assert client.post("/orders", json=payload).status_code == 422
    assert stock("TEST-A") == 10


def test_concurrent_orders_never_oversell(sessions: sessionmaker[Session], stock: Stock) -> None:
    """Twelve buyers race for the 10 units of TEST-A, 1 each: the row lock lets
    exactly 10 through and stock ends at 0, never below."""

    def buy(_: int) -> bool:
        with sessions() as session:
            try:
                place_order(session, OrderIn.model_validate(order(("TEST-A", 1))))
            except OutOfStockError:
                return False
            return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(buy, range(12)))
    assert outcomes.count(True) == 10
    assert stock("TEST-A") == 0
