"""The test service's worker: takes jobs from a Redis list, puts results on another."""

from __future__ import annotations

import os

import resp

VERSION = "one"

if __name__ == "__main__":
    print("worker", VERSION, os.getpid(), flush=True)
    redis = resp.connect()
    while True:
        job = redis.call("BRPOP", "jobs", "1")
        if isinstance(job, list):
            redis.call("LPUSH", "done", f"{VERSION}:{job[1].upper()}:{os.getpid()}")
