"""Fresh Debian roots for the fresh-machine test: built with debootstrap, cached, entered.

A root is ``debootstrap --variant=minbase --include=python3,python3-venv bookworm`` from the
host's own Debian mirror, plus ``git`` (and what git depends on, nothing it recommends).
Built once per week and package list into ``$STAGELINE_TEST_CACHE`` (default
/var/cache/stageline-tests/, outside every checkout), under a lock, in a temporary folder
renamed into place when complete: a killed build leaves no half root, only a temporary
folder the next build removes.

Each use mounts the cached root under an overlay whose writes go to a tmpfs (the cache
stays pristine, and nothing is left to delete from disk afterwards), copies in the host's
CA certificates and package-index settings (and nothing else), mounts /proc, /sys and
/dev, runs commands as root under ``chroot`` with a clean environment, and on the way out
kills whatever still runs inside (found by PID, through /proc/PID/root) and unmounts
everything, whatever happened.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

CACHE = Path(os.environ.get("STAGELINE_TEST_CACHE", "/var/cache/stageline-tests"))
SUITE = "bookworm"
INCLUDE = ("python3", "python3-venv")
EXTRA = ("git",)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The host's settings a root needs to reach the package indexes the way the host does.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# pip's and uv's configuration (folders whole: a pip.conf may name a constraints file beside it)
INDEX_PATHS = ("/etc/pip.conf", "/etc/xdg/pip", "/etc/uv")
HOME_INDEX_PATHS = (".config/pip", ".pip", ".config/uv")
PASSED_VARIABLES = re.compile(
    r"(PIP|UV)_\w+|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
    r"|(http|https|no|all)_proxy|(HTTP|HTTPS|NO|ALL)_PROXY"
)


def debian_mirror(sources: Mapping[str, str], suite: str = SUITE) -> str | None:
    """The first mirror URL that apt ``sources`` (file name -> text) use for ``suite``, or
    None; reads one-line (``deb URL SUITE ...``) and deb822 (``URIs:``/``Suites:``) entries.
    """
    for name, text in sorted(sources.items()):
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if (
                    fields.get("Types", "deb").split()[0] == "deb"
                    and suite in fields.get("Suites", "").split()
                    and fields.get("Enabled", "yes") != "no"
                    and "URIs" in fields
                ):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return None


def _host_apt_sources() -> dict[str, Path]:
    """The host's enabled apt source files, by their path inside a root."""
    found = {}
    main = Path("/etc/apt/sources.list")
    if main.is_file():
        found[str(main)] = main
    listed = Path("/etc/apt/sources.list.d")
    if listed.is_dir():
        for path in sorted(listed.iterdir()):
            if path.suffix in (".list", ".sources"):
                found[str(path)] = path
    return found


def cache_key(now: datetime.date, mirror: str) -> str:
    """One root per ISO week (security updates arrive), package list and mirror."""
    year, week, _ = now.isocalendar()
    what = " ".join((SUITE, *INCLUDE, *EXTRA, mirror))
    return f"debian-{SUITE}-{year}w{week:02d}-{hashlib.sha256(what.encode()).hexdigest()[:10]}"


def cached_root() -> Path:
    """The cached root for this week, built first when missing (see the module doc)."""
    sources = _host_apt_sources()
    mirror = debian_mirror({name: path.read_text() for name, path in sources.items()})
    assert mirror, f"no apt source of this host names {SUITE}: debootstrap needs its mirror"
    CACHE.mkdir(parents=True, exist_ok=True)
    final = CACHE / cache_key(datetime.date.today(), mirror)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait and reuse it
        if final.is_dir():
            return final
        for stale in CACHE.glob("*.partial-*"):  # a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        partial = CACHE / f"{final.name}.partial-{os.getpid()}"
        _build(partial, mirror, sources)
        partial.rename(final)
        for old in CACHE.glob(f"debian-{SUITE}-*"):  # last week's roots
            if old != final and ".partial-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)
    return final


def _build(root: Path, mirror: str, sources: Mapping[str, Path]) -> None:
    include = ",".join(INCLUDE)
    _run(["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(root), mirror])
    for stale in (root / "etc/apt/sources.list", *(root / "etc/apt/sources.list.d").iterdir()):
        stale.unlink(missing_ok=True)
    for inside, path in sources.items():
        shutil.copyfile(path, root / inside.lstrip("/"))
    with mounted(root):
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run_in(root, ["apt-get", "update", "-qq"], env=env)
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *EXTRA]
        run_in(root, install, env=env)
        run_in(root, ["apt-get", "clean"], env=env)


def _run(
    command: list[str], timeout: float | None = None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; with ``check``, AssertionError with the last lines of its output if
    it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    return done


def host_environment() -> dict[str, str]:
    """The host's package-index and certificate variables, passed into a root as they are."""
    return {name: value for name, value in os.environ.items() if PASSED_VARIABLES.fullmatch(name)}


def run_in(
    root: Path,
    command: list[str],
    *,
    env: Mapping[str, str] = {},
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as root inside ``root`` with a clean environment (a login's basics,
    the host's index settings, then ``env``); with ``check``, AssertionError with the
    output's tail if it fails."""
    base = {"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", "TERM": "dumb", "USER": "root"}
    full = {**base, **host_environment(), **env}
    variables = [f"{name}={value}" for name, value in full.items()]
    chroot = ["chroot", str(root), "/usr/bin/env", "-i", *variables, *command]
    return _run(chroot, timeout=timeout, check=check)


def copy_host_settings(root: Path) -> list[str]:
    """Copy the host's CA bundle and pip's and uv's configuration into ``root`` (the host's
    HOME becomes /root); returns what was copied."""
    home = Path.home()
    pairs = [(Path(CA_BUNDLE), CA_BUNDLE)]
    pairs += [(Path(path), path) for path in INDEX_PATHS]
    pairs += [(home / rel, f"/root/{rel}") for rel in HOME_INDEX_PATHS]
    copied = []
    for host, inside in pairs:
        target = root / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if host.is_dir():
            shutil.copytree(host, target, dirs_exist_ok=True)
        elif host.is_file():
            shutil.copyfile(host, target)
        else:
            continue
        copied.append(inside)
    return copied


@contextmanager
def mounted(root: Path) -> Iterator[Path]:
    """/proc, /sys, /dev (with its pts and a private shm) mounted in ``root``; on the way out
    every process still running inside is killed and everything is unmounted."""
    with ExitStack() as stack:
        stack.callback(kill_inside, root)
        for kind, source, rel in (
            ("proc", "proc", "proc"),
            ("bind", "/sys", "sys"),
            ("bind", "/dev", "dev"),
            ("bind", "/dev/pts", "dev/pts"),
            ("tmpfs", "tmpfs", "dev/shm"),
        ):
            target = root / rel
            target.mkdir(parents=True, exist_ok=True)
            options = ["--bind"] if kind == "bind" else ["-t", kind]
            _run(["mount", *options, source, str(target)])
            stack.callback(_unmount, target)
        yield root


@contextmanager
def overlaid(lower: Path, work: Path) -> Iterator[Path]:
    """``lower`` seen through a writable overlay at ``work/root``; ``lower`` is never
    written, and what is written lands in a tmpfs at ``work``, gone at unmount (deleting a
    venv's tens of thousands of files from disk took minutes on a busy machine)."""
    work.mkdir(parents=True)
    _run(["mount", "-t", "tmpfs", "-o", "size=8g,mode=0755", "tmpfs", str(work)])
    try:
        upper, scratch, merged = work / "upper", work / "scratch", work / "root"
        for folder in (upper, scratch, merged):
            folder.mkdir()
        options = f"lowerdir={lower},upperdir={upper},workdir={scratch}"
        _run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
        try:
            yield merged
        finally:
            kill_inside(merged)
            _unmount(merged)
    finally:
        _unmount(work)


def _unmount(target: Path) -> None:
    if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(target)], capture_output=True, check=True)


def processes_inside(root: Path) -> dict[int, str]:
    """PID -> command line of every process whose root is ``root`` (or under it)."""
    found = {}
    prefix = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            where = os.readlink(entry / "root")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if where == prefix or where.startswith(prefix + "/"):
            found[int(entry.name)] = command.strip()
    return found


def kill_inside(root: Path) -> None:
    """SIGKILL every process running inside ``root``, by PID (all were started there by us),
    and wait up to 10 s for them to be gone."""
    deadline = time.monotonic() + 10
    while (left := processes_inside(root)) and time.monotonic() < deadline:
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
