"""Run by the lock tests as a separate process: wait for a go file, then race.

Usage: lock_worker.py MODE URL LOCK_NAME HOLDER WORKDIR, where MODE is ``lock`` (open
the store, signal ready, race for the lock on "go" and hold it until "release") or
``open`` (signal ready, open a fresh store on "go" and print its schema revision).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stageline.errors import LockHeld
from stageline.state import Store


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.005)


def main() -> None:
    mode, url, name, holder, workdir = sys.argv[1:6]
    work = Path(workdir)
    store = Store.open(url) if mode == "lock" else None
    (work / f"ready-{holder}").touch()
    wait_for(work / "go")
    if store is None:
        with Store.open(url) as opened:
            print(f"opened {opened.schema_revision}", flush=True)
        return
    try:
        with store.lock(name, holder=holder):
            print("acquired", flush=True)
            wait_for(work / "release")
    except LockHeld as exc:
        print(f"held {exc.holder}", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
