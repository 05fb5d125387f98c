"""``python -m worker``: takes welcome jobs from the Redis list and marks each subscriber
welcomed (where a real service would send the email). Runs until stopped (SIGTERM)."""

from __future__ import annotations

import logging
import signal
import sys
from datetime import UTC, datetime

from flask import Flask
from newsletter import create_app
from newsletter.models import Subscriber, db
from newsletter.queue import connect, take

log = logging.getLogger("worker")
POLL_SECONDS = 1


def process_one(app: Flask, timeout: int = POLL_SECONDS) -> int | None:
    """Handle the oldest job, if one comes within ``timeout`` seconds; the subscriber's id."""
    job = take(connect(app), app.config["WELCOME_QUEUE"], timeout)
    if job is None or job.get("kind") != "welcome":
        return None
    with app.app_context():
        subscriber = db.session.get(Subscriber, int(job["subscriber"]))
        if subscriber is None:
            log.warning("job for unknown subscriber %s dropped", job["subscriber"])
            return None
        subscriber.welcomed_at = datetime.now(UTC)
        db.session.commit()
        log.info("welcomed %s", subscriber.name)
        return subscriber.id


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    log.info("waiting for jobs on %s", app.config["WELCOME_QUEUE"])
    while running:
        process_one(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
