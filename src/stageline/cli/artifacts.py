"""build, artifacts, artifact show, artifact verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stageline.artifacts.deps import resolution_note
from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.state import ArtifactRecord
from stageline.usecases import pipeline
from stageline.values import label

artifact_app = typer.Typer(help="Inspect or verify one stored artifact.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="A digest (or its first characters), or a tag.")]


def build(
    ref: Annotated[str, typer.Argument(help="A git tag such as v1.7.0-rc1, or any git ref.")],
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Build REF once into an immutable, content-addressed artifact."""
    with pipeline.Session.open(directory) as session:
        if json:
            built = pipeline.build(session, ref)
        else:
            output.step(f"building {ref}")
            with output.progress(f"building {ref}") as report:
                built = pipeline.build(session, ref, progress=report)
    manifest = built.manifest
    if json:
        output.emit_json(
            {
                **_record_json(built.record),
                "reused": built.reused,
                "service_from": manifest.service_from,
                "resolved_at_build": manifest.resolved_at_build,
            }
        )
        return
    verb = "reused" if built.reused else "built"
    size = built.record.size_bytes / 1e6
    output.success(
        f"{verb} {built.record.service} {built.record.version} {built.record.digest} "
        f"({size:.1f} MB)"
    )
    note = resolution_note(manifest)
    if note:
        output.warning(note)


def list_(directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """List stored artifacts, newest first."""
    with pipeline.Session.open(directory) as session:
        records = pipeline.list_artifacts(session)
    if json:
        output.emit_json([_record_json(r) for r in records])
        return
    table = Table("digest", "service", "version", "tag", "commit", "built", "size")
    for r in records:
        output.add_row(
            table,
            label(r.digest),
            r.service,
            r.version,
            r.tag or "-",
            r.commit[:10],
            f"{r.built_at:%Y-%m-%d %H:%M}",
            f"{r.size_bytes / 1e6:.1f} MB",
        )
    output.out.print(table if records else "no artifacts yet: `stageline build TAG` makes one")


@artifact_app.command("show")
def show(ref: RefArgument, directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """Print an artifact's manifest."""
    with pipeline.Session.open(directory) as session:
        record, manifest = pipeline.show_artifact(session, ref)
    data = manifest.model_dump(mode="json")
    if json:
        output.emit_json(
            {"digest": record.digest, "record": _record_json(record), "manifest": data}
        )
        return
    output.out.print(f"[bold]{output.safe(record.digest)}[/]")
    service, source = data["service"], data["source"]
    output.line(f"  service   {service['name']} {service['version']} ({service['kind']})")
    if manifest.service_from:
        origin = "the built commit's own" if manifest.service_from == "commit" else "the operator's"
        output.line(f"  [service] {origin} pipeline file's, frozen here (deploys use it)")
    output.line(f"  source    {source['ref']} @ {source['commit'][:12]} ({source['commit_time']})")
    output.line(f"  python    {data['python']}")
    output.line(f"  pins      {len(data['pins'])} ({data.get('pinned_from') or 'unpinned'})")
    if manifest.resolved_at_build:
        output.line(f"  resolved at build time: {', '.join(manifest.resolved_at_build)}")
    local = [str(pin) for pin in manifest.pins if pin.source]
    if local:
        output.line(f"  built from the commit: {', '.join(local)}")
    output.line(f"  files     {len(data['files'])}")
    output.line(f"  built     {record.built_at:%Y-%m-%d %H:%M:%S %Z} by {record.built_by}")


@artifact_app.command("verify")
def verify(ref: RefArgument, directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """Recompute every file's hash; any byte changed, added or removed is refused."""
    with pipeline.Session.open(directory) as session:
        record = pipeline.verify_artifact(session, ref)
    if json:
        output.emit_json({"digest": record.digest, "ok": True})
        return
    output.success(f"{record.digest} matches its manifest")


def _record_json(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "digest": record.digest,
        "service": record.service,
        "version": record.version,
        "tag": record.tag,
        "ref": record.ref,
        "commit": record.commit,
        "commit_time": record.commit_time,
        "built_at": record.built_at.isoformat(),
        "built_by": record.built_by,
        "host": record.host,
        "size_bytes": record.size_bytes,
        "path": record.path,
    }
