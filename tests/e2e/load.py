"""Constant load on a service's health route while a test switches releases under it."""

from __future__ import annotations

import threading

import httpx


class Load:
    """Two clients in threads on ``url``'s ``/healthz``: one keep-alive connection, one
    new connection per request, each waiting ``pace`` seconds between requests (0: as
    fast as it can). Counts answers per release (``ok``: the answer's ``digest`` ->
    count) and records every failure (``failed``)."""

    def __init__(self, url: str, *, pace: float = 0.0) -> None:
        self.url, self.pace = url, pace
        self.ok: dict[str, int] = {}
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,)) for k in (True, False)]

    @property
    def answered(self) -> int:
        """Requests answered 200, by any release."""
        return sum(self.ok.values())

    def _run(self, keep_alive: bool) -> None:
        with httpx.Client(trust_env=False, timeout=10) as client:
            while not self._stop.wait(self.pace):
                try:
                    if keep_alive:
                        answer = client.get(f"{self.url}/healthz")
                    else:
                        answer = httpx.get(f"{self.url}/healthz", trust_env=False, timeout=10)
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                    continue
                if answer.status_code == 200:
                    digest = str(answer.json().get("digest", ""))
                    self.ok[digest] = self.ok.get(digest, 0) + 1
                else:
                    self.failed.append(f"{answer.status_code}: {answer.text[:100]}")

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
