"""An OCI image from a stored artifact, built once per (artifact, base image).

The build runs in a container of the base image, cut off from every network
(``--network none``), with the stored artifact mounted read-only: a virtualenv made with
the base image's own ``python3`` and the artifact's wheelhouse installed into it offline
(``pip --no-index``), the bundle (or app tree) and stageline's runtime helper copied
beside it, and ``launch.py`` (``launcher.py``) as the entry point. The container is then
committed as the image, labelled with the artifact's digest, version and commit. (A
``docker build`` would do the same in more steps: with the ``vfs`` storage driver each
step copies the whole root file system.)

The image's identity is recorded next to the immutable artifact, in a sidecar the
artifact's digest does not cover::

    <store>/images/<artifact hex>.json   {"<base image id>": ImageRecord, ...}

keyed by the base image's own id, so every environment on the same base gets the very
same image (never a rebuild), and a changed base (a security update) is a new build.
With a registry, the pushed reference (``registry/name@sha256:...``) is recorded too, and
services name that: every node pulls exactly those bytes.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from stageline.artifacts.install import requirements_of
from stageline.artifacts.manifest import Manifest
from stageline.errors import DeployFailed
from stageline.targets.swarm.engine import Engine, EngineError

LABEL = "org.stageline"
ENTRYPOINT = ["/stageline/venv/bin/python", "/stageline/launch.py"]
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageRecord:
    """One image of an artifact: its id (the engine's content digest of its config),
    its local tag, the base it was built on, and where it was pushed."""

    id: str
    tag: str
    base: str
    artifact: str
    seconds: float = 0.0
    pushed: dict[str, str] = field(default_factory=dict)  # registry -> name@sha256:...

    def reference(self, registry: str | None) -> str:
        """What a service runs: the pushed digest reference, else the local tag."""
        if registry:
            return self.pushed[registry]
        return self.tag


def record_path(artifact_path: Path) -> Path:
    return artifact_path.parent / "images" / f"{artifact_path.name}.json"


def load_records(artifact_path: Path) -> dict[str, ImageRecord]:
    path = record_path(artifact_path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {base: ImageRecord(**found) for base, found in data.items()}


def save_record(artifact_path: Path, record: ImageRecord) -> None:
    records = load_records(artifact_path)
    records[record.base] = record
    path = record_path(artifact_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({k: asdict(v) for k, v in records.items()}, indent=2) + "\n")
    partial.replace(path)


def image_tag(manifest: Manifest, digest: str) -> str:
    """``stageline/<service>:<version>-<digest12>`` (a tag names; the id identifies)."""
    version = manifest.service.version.replace("+", "_")
    return f"stageline/{manifest.service.name}:{version}-{digest.removeprefix('sha256:')[:12]}"


def build_script(requirements: list[str], inner: str) -> str:
    """The shell script the build container runs (pure): venv, offline install, files."""
    reqs = " ".join(shlex.quote(r) for r in requirements)
    return "\n".join(
        [
            "set -eu",
            "mkdir -p /stageline",
            "python3 -m venv /stageline/venv",
            "/stageline/venv/bin/python -m pip install --quiet --no-index --no-cache-dir"
            f" --disable-pip-version-check --find-links /artifact/wheels {reqs}",
            f"if [ -d /artifact/{inner} ]; then cp -a /artifact/{inner} /stageline/{inner};"
            f" else mkdir /stageline/{inner}; fi",
            "cp -a /context/runtime /stageline/runtime",
            "for site in /stageline/venv/lib/python*/site-packages; do"
            ' echo /stageline/runtime > "$site/_stageline_runtime.pth"; done',
            "cp /context/launch.py /context/release.json /stageline/",
            "/stageline/venv/bin/python -m compileall -q /stageline/runtime"
            f" /stageline/{inner} /stageline/venv >/dev/null",
        ]
    )


def release_meta(manifest: Manifest) -> dict[str, object]:
    """``/stageline/release.json``: what ``launch.py`` needs from the manifest."""
    service = manifest.service
    return {
        "start": service.start,
        "health": service.health,
        "processes": dict(service.processes),
        "workdir": "/stageline/" + ("app" if service.kind == "app" else "bundle"),
    }


def labels(manifest: Manifest, digest: str, base: str) -> dict[str, str]:
    return {
        f"{LABEL}.artifact": digest,
        f"{LABEL}.base": base,
        f"{LABEL}.service": manifest.service.name,
        "org.opencontainers.image.version": manifest.service.version,
        "org.opencontainers.image.revision": manifest.source.commit,
    }


def base_id(engine: Engine, base_image: str) -> str:
    """The base image's id, pulled first if the engine lacks it."""
    found = engine.inspect("image", base_image)
    if not found:
        engine.run(["pull", base_image])
        found = engine.inspect("image", base_image)
    return str(found[0]["Id"])


def ensure_image(
    engine: Engine,
    artifact_path: Path,
    manifest: Manifest,
    digest: str,
    base_image: str,
    *,
    registry: str | None = None,
) -> tuple[ImageRecord, bool]:
    """The artifact's image on ``base_image`` (built now only if none is recorded, or the
    recorded one is gone from an engine with no registry to pull it from), pushed to
    ``registry`` if given; returns (record, built)."""
    base = base_id(engine, base_image)
    record = load_records(artifact_path).get(base)
    built = False
    pullable = record is not None and bool(registry) and registry in record.pushed
    if record is not None and not pullable and not engine.inspect("image", record.id):
        record = None  # rebuilt: the same inputs, the same image content
    if record is None:
        record = found_in_engine(engine, manifest, digest, base)
    if record is None:
        record = build(engine, artifact_path, manifest, digest, base)
        built = True
    if registry and registry not in record.pushed:
        record = replace(record, pushed={**record.pushed, registry: push(engine, record, registry)})
    save_record(artifact_path, record)
    return record, built


def found_in_engine(
    engine: Engine, manifest: Manifest, digest: str, base: str
) -> ImageRecord | None:
    """An image this engine already holds for (artifact, base), found by its labels (an
    artifact store made again from the same source has the same digest), or None."""
    filters = [
        "--filter",
        f"label={LABEL}.artifact={digest}",
        "--filter",
        f"label={LABEL}.base={base}",
    ]
    ids = engine.run(["images", "--no-trunc", "-q", *filters]).split()
    if not ids:
        return None
    engine.run(["tag", ids[0], image_tag(manifest, digest)])
    return ImageRecord(ids[0], image_tag(manifest, digest), base, digest)


def build(
    engine: Engine, artifact_path: Path, manifest: Manifest, digest: str, base: str
) -> ImageRecord:
    """Build the image now (see the module docstring); the build container is removed."""
    started = time.monotonic()
    inner = "app" if manifest.service.kind == "app" else "bundle"
    wheelhouse = artifact_path / "wheels"
    requirements = [
        r.replace(str(wheelhouse), "/artifact/wheels")
        for r in requirements_of(manifest, wheelhouse)
    ]
    name = f"stageline-build-{digest.removeprefix('sha256:')[:12]}-{int(time.time() * 1000)}"
    with tempfile.TemporaryDirectory(prefix="stageline-image-") as tmp:
        context = Path(tmp)
        _write_context(context, manifest)
        try:
            engine.run([
                "run", "--name", name, "--network", "none", "--user", "0",
                "-v", f"{artifact_path}:/artifact:ro", "-v", f"{context}:/context:ro",
                base, "sh", "-c", build_script(requirements, inner),
            ])  # fmt: skip
            changes = [
                f"LABEL {k}={json.dumps(v)}" for k, v in labels(manifest, digest, base).items()
            ]
            changes += [
                f"ENTRYPOINT {json.dumps(ENTRYPOINT)}",
                'CMD ["web"]',
                f"WORKDIR /stageline/{inner}",
                f"ENV PATH=/stageline/venv/bin:{SYSTEM_PATH}",
                "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 VIRTUAL_ENV=/stageline/venv",
            ]
            args = ["commit"] + [a for c in changes for a in ("--change", c)]
            image = engine.run([*args, name, image_tag(manifest, digest)]).strip()
        except EngineError as exc:
            raise DeployFailed(
                "",
                f"building the image of {manifest.service.name} {manifest.service.version} "
                f"failed: {exc}",
                hint="the wheelhouse must hold wheels for the base image's Python and platform",
            ) from None
        finally:
            engine.run(["rm", "-f", "-v", name])
    return ImageRecord(
        image, image_tag(manifest, digest), base, digest, round(time.monotonic() - started, 2)
    )


def _write_context(context: Path, manifest: Manifest) -> None:
    import stageline.runtime as helper
    from stageline.targets.swarm import launcher

    package = context / "runtime" / "stageline"
    shutil.copytree(
        Path(helper.__file__).parent,
        package / "runtime",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (package / "__init__.py").write_text('"""stageline\'s runtime helper."""\n')
    shutil.copyfile(launcher.__file__, context / "launch.py")
    (context / "release.json").write_text(json.dumps(release_meta(manifest), indent=2))
    for path in context.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    context.chmod(0o755)


def push(engine: Engine, record: ImageRecord, registry: str) -> str:
    """Push the image to ``registry``; its ``name@sha256:...`` reference there."""
    remote = f"{registry.rstrip('/')}/{record.tag.removeprefix('stageline/')}"
    engine.run(["tag", record.id, remote])
    engine.run(["push", "--quiet", remote])
    repo = remote.rsplit(":", 1)[0]
    found = engine.inspect("image", record.id)
    for ref in found[0].get("RepoDigests") or []:
        if str(ref).startswith(repo + "@"):
            return str(ref)
    raise EngineError(f"pushed {remote}, but the engine reports no digest for it")


def describe(record: ImageRecord, built: bool) -> Mapping[str, object]:
    return {**asdict(record), "built": built}
