"""Which ``[service]`` section a build takes, and how a built one differs from today's.

The release is the tag; the pipeline file belongs to the operator. A build takes the
built commit's own ``[service]`` when it has one (``stageline.toml``, else
``[tool.stageline]`` of ``pyproject.toml``, in the folder the operator's pipeline file is
in: the repository's top, usually), else the
operator's pipeline file's. Either way the whole section is frozen into the manifest
(``ServiceInfo``, ``Manifest.service_from``) and deploys use the frozen one: an edit to
the pipeline file changes nothing that was built. :func:`drift` says what differs, for
``status`` and ``deploy`` to show:

==========================  ==================================================
frozen section came from    the line shown when a key differs
==========================  ==================================================
the pipeline file           ``start differs from the built artifact's; rebuild
                            to take it``
the commit's own file       ``... differs from the built artifact's, which
                            v1.2's own stageline file set; tag a release ...``
an older build (no origin)  as the pipeline file, comparing only the keys it
                            recorded (``OLD_SECTION_KEYS``)
==========================  ==================================================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from stageline.artifacts import source
from stageline.artifacts.manifest import Manifest
from stageline.config.loader import service_in_text
from stageline.config.model import Service
from stageline.errors import UsageError

#: the files of a commit a ``[service]`` table is looked for in, in order
PIPELINE_FILES = ("stageline.toml", "pyproject.toml")

Origin = Literal["commit", "pipeline file"]


@dataclass(frozen=True)
class Section:
    """The ``[service]`` section a build uses, and where it came from."""

    service: Service
    origin: Origin

    @property
    def data(self) -> dict[str, Any]:
        """The section as frozen into the manifest (every key, JSON values)."""
        return self.service.model_dump(mode="json")

    @property
    def digest(self) -> str:
        """A short hash of the section (part of the key a build is reused by)."""
        text = json.dumps([self.origin, self.data], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def in_commit(repo: Path, src: source.SourceRef, folder: str = "") -> Service | None:
    """The commit's own ``[service]`` (see :data:`PIPELINE_FILES`) in ``folder`` (posix,
    from the repository's top: where the operator keeps the pipeline file), None when it
    has none; ConfigError naming the file and the ref (``stageline.toml at v1.2``) when
    it is invalid."""
    for name, path in zip(PIPELINE_FILES, files_in(folder), strict=True):
        text = source.show_file(repo, src.commit, path)
        if text is None:
            continue
        found = service_in_text(text, name, f"{path} at {src.tag or src.ref}")
        if found is not None:
            return found
    return None


def files_in(folder: str) -> list[str]:
    """The paths of :data:`PIPELINE_FILES` in ``folder`` (posix, "" for the top)."""
    return [f"{folder.strip('/')}/{name}".lstrip("/") for name in PIPELINE_FILES]


def choose(
    own: Service | None, operator: Callable[[], Service] | None, where: str, folder: str = ""
) -> Section:
    """The commit's ``own`` section when it has one, else the operator's (``operator``
    reads the pipeline file; None: there is none to read). UsageError naming ``where``
    (the tag) and the files looked in (in ``folder``) when neither has one."""
    if own is not None:
        return Section(own, "commit")
    looked = f"{where} has no [service] in {' or '.join(files_in(folder))} ([tool.stageline])"
    hint = "write [service] in the pipeline file (`stageline init` starts one): tags need no change"
    if operator is None:
        raise UsageError(f"{looked}, and no pipeline file was given to take it from", hint=hint)
    try:
        return Section(operator(), "pipeline file")
    except UsageError as exc:
        if exc.__class__ is not UsageError:  # a broken file: its own error names file:line
            raise
        raise UsageError(f"{looked}, and {exc.message}", hint=hint) from None


def differing_keys(
    current: Mapping[str, Any], frozen: Mapping[str, Any], *, complete: bool
) -> list[str]:
    """The keys of ``current`` (today's section, JSON values) whose value differs from
    the ``frozen`` one. A ``complete`` frozen section (every key the build knew) counts
    a key it lacks as differing; an older, partial one is compared on its own keys only."""
    keys = current.keys() if complete else current.keys() & frozen.keys()
    return sorted(key for key in keys if key not in frozen or frozen[key] != current[key])


def with_defaults(frozen: Mapping[str, Any]) -> dict[str, Any]:
    """``frozen`` with today's default for each key of ``Service`` it lacks (a key added
    after it was built); as it is when today's model no longer accepts it."""
    known = {key: value for key, value in frozen.items() if key in Service.model_fields}
    try:
        return {**frozen, **Service.model_validate(known).model_dump(mode="json")}
    except ValidationError:
        return dict(frozen)


def drift_line(keys: list[str], origin: Origin | None, ref: str) -> str | None:
    """One line saying ``keys`` differ from the built artifact's and what would take
    them (None when nothing differs)."""
    if not keys:
        return None
    one = len(keys) == 1
    said = f"{', '.join(keys)} {'differs' if one else 'differ'} from the built artifact's"
    if origin == "commit":
        return (
            f"{said}, which {ref}'s own pipeline file set (it wins over yours); "
            f"tag a release with the change to take {'it' if one else 'them'}"
        )
    return f"{said}; rebuild to take {'it' if one else 'them'}"


def drift(current: Service, manifest: Manifest) -> str | None:
    """What differs between the pipeline file's ``[service]`` and ``manifest``'s frozen
    one, as one line (None: nothing does)."""
    complete = manifest.service_from is not None
    frozen = manifest.service.section()
    keys = differing_keys(
        current.model_dump(mode="json"),
        with_defaults(frozen) if complete else frozen,
        complete=complete,
    )
    return drift_line(keys, manifest.service_from, manifest.source.tag or manifest.source.ref)
