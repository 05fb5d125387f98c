"""One service process as the agent sees it: spawned by us, or adopted from a previous agent.

Services run in their own session (so they outlive the agent, even a SIGKILLed one) and
are stopped as a whole process group. Exits are noticed through a pidfd, which works for
adopted processes too; where pidfds are missing we fall back to polling ``/proc``.

We use ``subprocess.Popen`` rather than ``asyncio.create_subprocess_exec`` on purpose:
an asyncio subprocess transport kills its child when it is closed or garbage-collected,
which would take every service down with an agent that exits on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from stageline.agent.spec import ProcessSpec
from stageline.host.procfs import group_alive, is_alive, proc_start_time

POLL_INTERVAL = 0.2


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ServiceProcess:
    """A live service process: its pid, and a way to wait for it and to stop its group."""

    def __init__(self, pid: int, proc_start: int, popen: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.proc_start = proc_start
        self._popen = popen
        self._exit: asyncio.Future[None] | None = None
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(pid)

    @classmethod
    def spawn(cls, spec: ProcessSpec) -> tuple[ServiceProcess, int]:
        """Start ``spec`` in a new session; returns the process and the log offset it starts at.

        Raises OSError when the program or its working directory cannot be used.
        """
        log_path = Path(spec.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            offset = log.tell()
            log.write(
                f"--- stageline agent: starting {spec.environment} release {spec.release} "
                f"at {now_iso()}\n".encode()
            )
            log.flush()
            popen = subprocess.Popen(
                spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        return cls(popen.pid, proc_start_time(popen.pid) or 0, popen), offset

    @classmethod
    def adopt(cls, pid: int, proc_start: int) -> ServiceProcess | None:
        """Take over a process a previous agent started, if it is still that very process."""
        if not is_alive(pid, proc_start):
            return None
        proc = cls(pid, proc_start, None)
        if not is_alive(pid, proc_start):  # the pid was reused while we opened the pidfd
            proc.close()
            return None
        return proc

    @property
    def adopted(self) -> bool:
        return self._popen is None

    def exited(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is not None
        return not is_alive(self.pid, self.proc_start)

    @property
    def exit_code(self) -> int | None:
        """The exit status (negative: killed by that signal); unknown for adopted processes."""
        return self._popen.returncode if self._popen is not None else None

    async def wait(self) -> int | None:
        """Wait until the process exits; returns its exit code (None if adopted)."""
        if self._pidfd is not None and not self.exited():
            await asyncio.shield(self._exit_future())
        while not self.exited():
            await asyncio.sleep(POLL_INTERVAL)
        self.close()
        return self.exit_code

    def _exit_future(self) -> asyncio.Future[None]:
        if self._exit is None:
            assert self._pidfd is not None
            loop = asyncio.get_running_loop()
            self._exit = loop.create_future()
            exit_future, pidfd = self._exit, self._pidfd

            def on_exit() -> None:
                loop.remove_reader(pidfd)
                if not exit_future.done():
                    exit_future.set_result(None)

            loop.add_reader(pidfd, on_exit)
        return self._exit

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def terminate(self, grace: float) -> int | None:
        """SIGTERM the whole group; SIGKILL whatever is left of it after ``grace`` seconds."""
        self.signal_group(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.wait()
        while group_alive(self.pid) and loop.time() < deadline:
            await asyncio.sleep(POLL_INTERVAL)
        self.signal_group(signal.SIGKILL)
        return await self.wait()

    def close(self) -> None:
        """Release the pidfd (the process itself is left alone)."""
        if self._pidfd is not None:
            if self._exit is not None and not self._exit.done():
                self._exit.get_loop().remove_reader(self._pidfd)
                self._exit.cancel()
            os.close(self._pidfd)
            self._pidfd = None
