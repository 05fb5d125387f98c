"""The shop's irreversible side effects: charging the customer, emailing the confirmation.

Both are guarded by ``stageline.runtime.side_effect``: they really happen only when the
service runs in the production tier. In every other environment (development, testing,
staging) the call is recorded in the outbox (``STAGELINE_OUTBOX``) and the ``simulate``
result is returned instead, so staging runs this very code path without charging a card
or emailing a customer. The API key travels as a ``runtime.Secret``, so the outbox only
ever shows it masked.

The providers' base URLs come from the settings via ``configure()``, which the
application calls when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from stageline import runtime

CURRENCY = "EUR"
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


@dataclass(frozen=True)
class Providers:
    payment_url: str
    email_url: str


_providers: Providers | None = None


def configure(payment_url: str, email_url: str) -> None:
    """Point the side effects at the providers' base URLs (called at startup)."""
    global _providers
    _providers = Providers(payment_url=payment_url, email_url=email_url)


def endpoint(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


def providers() -> Providers:
    if _providers is None:
        raise RuntimeError("shop.effects.configure() was not called before a side effect")
    return _providers


def post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST ``body`` as JSON; the provider's JSON answer, or httpx.HTTPError."""
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(url, json=body, headers=headers)
        response.raise_for_status()
        answer = response.json()
    if not isinstance(answer, dict):
        raise httpx.DecodingError(f"{url} answered {type(answer).__name__}, not an object")
    return answer


def _simulated_charge(
    order_id: int, amount_cents: int, customer_email: str, api_key: runtime.Secret
) -> dict[str, Any]:
    return {"id": f"sim-{order_id}", "status": "simulated"}


@runtime.side_effect("payments", simulate=_simulated_charge)
def charge(
    order_id: int, amount_cents: int, customer_email: str, api_key: runtime.Secret
) -> dict[str, Any]:
    """Charge the order's total; the provider answers ``{"id": ..., "status": ...}``."""
    return post_json(
        endpoint(providers().payment_url, "charges"),
        {"order_id": order_id, "amount_cents": amount_cents, "currency": CURRENCY},
        {
            "Authorization": f"Bearer {api_key.reveal()}",
            # A retried request must never charge twice.
            "Idempotency-Key": f"order-{order_id}",
        },
    )


def _simulated_confirmation(order_id: int, customer_email: str, total_cents: int) -> dict[str, Any]:
    return {"id": f"sim-{order_id}", "status": "simulated"}


@runtime.side_effect("email", simulate=_simulated_confirmation)
def send_confirmation(order_id: int, customer_email: str, total_cents: int) -> dict[str, Any]:
    """Email the customer that the order is confirmed."""
    return post_json(
        endpoint(providers().email_url, "messages"),
        {
            "to": customer_email,
            "subject": f"Your order {order_id} is confirmed",
            "text": f"Thank you for your order {order_id}: {total_cents / 100:.2f} {CURRENCY}.",
        },
        {},
    )
