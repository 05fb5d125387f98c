"""image: the OCI image of a stored artifact, built once (``targets/swarm/image.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.errors import UsageError
from stageline.targets.swarm.engine import Engine
from stageline.targets.swarm.image import describe, ensure_image
from stageline.usecases import pipeline
from stageline.values import label


def image(
    ref: Annotated[str, typer.Argument(help="A digest (or its first characters), or a tag.")],
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            help="Whose base image and registry (default: the first "
            'environment with target kind "swarm").',
        ),
    ] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Build the OCI image of a stored artifact once (later calls and deploys reuse it)."""
    with pipeline.Session.open(directory) as session:
        pipe = session.pipeline()
        swarm = [e for e in pipe.environments if e.target.kind == "swarm"]
        if environment is not None:
            env = pipe.environment(environment)
        elif swarm:
            env = swarm[0]
        else:
            raise UsageError(
                "no environment runs on a container engine: nothing says which base image",
                hint='set [environments.NAME.target] kind = "swarm" and base_image = "..."',
            )
        if env.target.kind != "swarm" or not env.target.base_image:
            raise UsageError(
                f"{env.name} does not run from an image (target kind {env.target.kind!r})",
                hint="name an environment whose target kind is swarm with --environment",
            )
        record, manifest = pipeline.show_artifact(session, ref)
        session.artifacts.verify(record.digest)
        if not json:
            output.step(f"image of {manifest.service.name} {manifest.service.version} on "
                        f"{env.target.base_image}")  # fmt: skip
        with output.progress("building the image (offline, once)"):
            made, built = ensure_image(
                Engine(env.target.docker_host),
                session.artifacts.path_for(record.digest),
                manifest,
                record.digest,
                env.target.base_image,
                registry=env.target.registry,
            )
    if json:
        output.emit_json(dict(describe(made, built)))
        return
    verb = f"built in {made.seconds:.1f}s" if built else "reused"
    output.success(f"{verb}: {made.tag} {made.id} (artifact {label(record.digest)})")
    for registry, reference in made.pushed.items():
        output.line(f"  pushed to {registry}: {reference}")
