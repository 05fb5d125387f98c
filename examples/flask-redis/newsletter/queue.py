"""The welcome queue: a Redis list of JSON jobs (LPUSH here, BRPOP in the worker)."""

from __future__ import annotations

import json
from typing import Any

import redis
from flask import Flask


def connect(app: Flask) -> redis.Redis:
    return redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=10)


def enqueue_welcome(app: Flask, subscriber_id: int) -> None:
    job = json.dumps({"kind": "welcome", "subscriber": subscriber_id})
    connect(app).lpush(app.config["WELCOME_QUEUE"], job)


def take(client: redis.Redis, queue: str, timeout: int) -> dict[str, Any] | None:
    """The oldest job, waiting up to ``timeout`` seconds; None when there is none."""
    popped = client.brpop([queue], timeout=timeout)
    return None if popped is None else dict(json.loads(popped[1]))
