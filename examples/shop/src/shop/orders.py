"""Order placement: the service's critical path, independent of HTTP."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shop.effects import charge, send_confirmation
from shop.models import Order, OrderLine, Product
from shop.schemas import OrderIn, OrderLineOut, OrderOut, PaymentOut
from stageline import runtime

log = logging.getLogger(__name__)


class UnknownProductError(LookupError):
    def __init__(self, skus: Sequence[str]) -> None:
        super().__init__(f"unknown sku: {', '.join(sorted(skus))}")
        self.skus = list(skus)


class OutOfStockError(RuntimeError):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"out of stock: {sku} (requested {requested}, available {available})")
        self.sku = sku
        self.requested = requested
        self.available = available


def lock_products(session: Session, skus: Sequence[str]) -> dict[str, Product]:
    """Load the products row-locked (FOR UPDATE), in id order so that concurrent
    orders always lock in the same order and cannot deadlock."""
    query = select(Product).where(Product.sku.in_(skus)).order_by(Product.id).with_for_update()
    products = {product.sku: product for product in session.scalars(query)}
    missing = set(skus) - products.keys()
    if missing:
        raise UnknownProductError(sorted(missing))
    return products


def take_stock(product: Product, quantity: int) -> OrderLine:
    if product.stock < quantity:
        raise OutOfStockError(product.sku, quantity, product.stock)
    product.stock -= quantity
    return OrderLine(product=product, quantity=quantity, unit_price_cents=product.price_cents)


def place_order(session: Session, order_in: OrderIn) -> int:
    """Check and decrement stock and record the order, all in one transaction.

    Raises UnknownProductError or OutOfStockError; then nothing is changed."""
    with session.begin():
        products = lock_products(session, [line.sku for line in order_in.lines])
        lines = [take_stock(products[line.sku], line.quantity) for line in order_in.lines]
        order = Order(
            customer_email=order_in.customer_email,
            status="placed",
            total_cents=sum(line.quantity * line.unit_price_cents for line in lines),
            lines=lines,
        )
        session.add(order)
        session.flush()
        return order.id


def pay_and_confirm(order: OrderOut, api_key: runtime.Secret) -> PaymentOut:
    """Charge a placed (committed) order, then email the confirmation.

    Outside production both are only recorded in the outbox (see ``shop.effects``). A
    failed charge is reported as status ``failed`` and sends no email; a failed email
    is logged and does not undo the paid order."""
    try:
        answer = charge(order.id, order.total_cents, order.customer_email, api_key)
        payment = PaymentOut(id=str(answer["id"]), status=str(answer["status"]))
    except (httpx.HTTPError, KeyError) as error:
        log.error("charging order %s failed: %s", order.id, error)
        return PaymentOut(id=None, status="failed")
    try:
        send_confirmation(order.id, order.customer_email, order.total_cents)
    except httpx.HTTPError as error:
        log.warning("confirmation email for order %s failed: %s", order.id, error)
    return payment


def load_order(session: Session, order_id: int) -> OrderOut | None:
    query = (
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.lines).selectinload(OrderLine.product))
    )
    order = session.scalars(query).one_or_none()
    return None if order is None else to_out(order)


def to_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        created_at=order.created_at,
        customer_email=order.customer_email,
        status=order.status,
        total_cents=order.total_cents,
        lines=[
            OrderLineOut(
                sku=line.product.sku,
                name=line.product.name,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.quantity * line.unit_price_cents,
            )
            for line in order.lines
        ],
    )
