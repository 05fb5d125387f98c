"""Request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sku: str
    name: str
    price_cents: int
    stock: int


class OrderLineIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1000)


class OrderIn(BaseModel):
    customer_email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)

    @field_validator("lines")
    @classmethod
    def skus_are_unique(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear only once per order")
        return lines


class OrderLineOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class OrderOut(BaseModel):
    id: int
    created_at: datetime
    customer_email: str
    status: str
    total_cents: int
    lines: list[OrderLineOut]


class PaymentOut(BaseModel):
    """The charge for an order: the provider's id and status, ``simulated`` outside
    production, ``failed`` (id null) when the provider refused or did not answer."""

    id: str | None
    status: str


class PlacedOrderOut(OrderOut):
    """POST /orders' answer: the order plus the outcome of charging it (not stored)."""

    payment: PaymentOut


class HealthOut(BaseModel):
    status: str
    version: str
    environment: str
    digest: str | None
    database: str
