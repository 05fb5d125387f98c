"""Who answers a SIGTERM or SIGHUP sent to stageline while a block runs.

``stageline run`` must outlive a terminal that hangs up, or a ``kill``, long enough to
clean up after the command (drop its copy): while making the copy, such a signal is
turned into ``KeyboardInterrupt`` (as Ctrl-C); while the command runs, it is passed on
to the command. Both install their handler with :func:`handled`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: the signals a person or a terminal sends to stop a command (Ctrl-C aside)
STOPPING = (signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], None]


@contextmanager
def handled(handler: Handler) -> Iterator[None]:
    """While the block runs, :data:`STOPPING` signals go to ``handler``; the previous
    handlers come back afterwards. Only the main thread may set handlers: elsewhere the
    block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOPPING}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
