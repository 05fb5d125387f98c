"""HTTP routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shop.db import get_session, ping
from shop.models import Product
from shop.orders import (
    OutOfStockError,
    UnknownProductError,
    load_order,
    pay_and_confirm,
    place_order,
)
from shop.schemas import HealthOut, OrderIn, OrderOut, PlacedOrderOut, ProductOut
from shop.settings import Settings

router = APIRouter()
SessionDep = Annotated[Session, Depends(get_session)]


def health_body(settings: Settings, database_ok: bool) -> HealthOut:
    return HealthOut(
        status="ok" if database_ok else "unavailable",
        version=settings.version,
        environment=settings.app_env,
        digest=settings.digest,
        database="ok" if database_ok else "unavailable",
    )


@router.get("/healthz", response_model=HealthOut)
def healthz(request: Request, session: SessionDep) -> JSONResponse:
    try:
        ping(session)
        database_ok = True
    except SQLAlchemyError:
        database_ok = False
    body = health_body(request.app.state.settings, database_ok)
    code = status.HTTP_200_OK if database_ok else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(), status_code=code)


@router.get("/products", response_model=list[ProductOut])
def list_products(session: SessionDep) -> list[ProductOut]:
    products = session.scalars(select(Product).order_by(Product.sku))
    return [ProductOut.model_validate(product) for product in products]


@router.post("/orders", response_model=PlacedOrderOut, status_code=status.HTTP_201_CREATED)
def create_order(order_in: OrderIn, request: Request, session: SessionDep) -> PlacedOrderOut:
    try:
        order_id = place_order(session, order_in)
    except UnknownProductError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except OutOfStockError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    # The order is committed; only now is the customer charged and emailed.
    order = get_order(order_id, session)
    settings: Settings = request.app.state.settings
    payment = pay_and_confirm(order, settings.payment_api_key)
    return PlacedOrderOut(**order.model_dump(), payment=payment)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: int, session: SessionDep) -> OrderOut:
    order = load_order(session, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"order {order_id} not found")
    return order
