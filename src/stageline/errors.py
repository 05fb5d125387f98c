"""Every error stageline raises on purpose.

One root, so callers can catch everything of ours in one place::

    StagelineError                      exit 3 unless a subclass says otherwise
    +-- UsageError                      exit 2: the user asked for something malformed
    |   +-- ConfigError                 the pipeline file is broken (carries every problem)
    |   +-- UnknownName                 an environment, gate, provider... that does not exist
    |   +-- ArtifactNotFound            no artifact matches a digest or tag
    |   +-- TooLong                     a note or reason over its cap (names the cap)
    +-- Refused                         exit 1: a check or verification said no
    |   +-- ArtifactTampered            stored bytes no longer match the manifest
    |   +-- UnsafeArchive               a tar member that would land outside its tree
    |   +-- UnsafeTree                  a built tree holds a link out, a special file, or
    |                                   a file or total over its size cap (names the file)
    |   +-- TagMoved                    a tag now names another commit than its build's
    |   +-- ReleaseFolderChanged        a prepared release folder differs from its record
    |   +-- Held                        sign-off holds the release (carries every reason)
    |   +-- SchemaRefused               rollback: the database is not at the older release's
    |                                   schema (carries both revisions and the choices)
    |   +-- ReachesLive                 a gate's release code was given the live database
    |                                   outright (carries the variables and their fix)
    |   +-- NotServing                  a decision names a digest that does not serve there
    |                                   (carries both digests)
    +-- InfrastructureError             exit 3: something around us failed
        +-- GitError                    a ref that does not resolve, a folder that is no repo
        +-- BuildError                  a dependency or build step failed (carries a log tail)
        +-- DiskFull                    no space left on a device (names the path)
        +-- StoreError                  the state store cannot be opened or migrated
        +-- LockHeld                    someone else holds the lock (names who, since when)
        +-- BackingServiceError         a PostgreSQL server could not be set up
        +-- DeployFailed                a release did not start or its release command failed
        +-- AgentError                  the host agent failed an order (carries a log tail)

Each error has a one-line ``str()`` and an optional ``hint`` saying what to do. Only the
CLI turns them into ``error: ...`` lines and exit codes; the library never exits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from stageline.values import label


class StagelineError(Exception):
    """Root of every error stageline raises on purpose."""

    exit_code: int = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(StagelineError):
    """The user asked for something malformed."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a pipeline file, located as precisely as the file allows."""

    file: str
    line: int | None
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(UsageError):
    """The pipeline file is broken; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        first = self.issues[0]
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{first}{more}", hint="run `stageline check` to see every problem")


class UnknownName(UsageError):
    """A name (environment, gate, provider, ...) that does not exist."""

    def __init__(self, kind: str, name: str, valid: Sequence[str], *, hint: str | None = None):
        self.kind = kind
        self.name = name
        self.valid = list(valid)
        choices = ", ".join(self.valid) if self.valid else "none"
        super().__init__(f"unknown {kind} {name!r}; valid: {choices}", hint=hint)


class ArtifactNotFound(UsageError):
    """No stored artifact matches the digest or tag asked for."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"no artifact matches {ref!r}",
            hint="`stageline artifacts` lists what is stored; `stageline build REF` makes one",
        )


class TooLong(UsageError):
    """A text a person typed (a note, a reason) is longer than its cap; nothing was stored."""

    def __init__(self, what: str, length: int, limit: int) -> None:
        self.what = what
        self.length = length
        self.limit = limit
        super().__init__(
            f"the {what} is {length:,} characters long; the cap is {limit:,} characters",
            hint=f"shorten the {what} (nothing was stored)",
        )


class Refused(StagelineError):
    """A check, verification or policy said no."""

    exit_code = 1


class ArtifactTampered(Refused):
    """The stored artifact's bytes differ from its manifest."""

    def __init__(self, digest: str, problems: Sequence[str]) -> None:
        self.digest = digest
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(
            f"artifact {label(digest)} does not match its manifest: {shown}{more}",
            hint="refusing to use it; delete it and build the tag again",
        )


class NotServing(Refused):
    """An approval, rejection or gate run named a digest other than the one serving."""

    def __init__(self, environment: str, named: str, serving: str, action: str) -> None:
        self.environment = environment
        self.named = named
        self.serving = serving
        super().__init__(
            f"refusing to {action} {label(named)} in {environment}: {label(serving)} serves there"
            " now; nothing was recorded",
            hint=f"look at what serves (`stageline status`), then {action} {label(serving)}",
        )


class UnsafeArchive(Refused):
    """A tar archive holds a member that may not be extracted (``reason`` says why)."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        self.reason = reason
        super().__init__(
            f"refusing to extract {member!r}: {reason}",
            hint="a tree is extracted only when every file, directory and link stays inside it",
        )


class UnsafeTree(Refused):
    """A built tree holds something an artifact may not carry (``reason`` says why)."""

    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"refusing to put {path!r} into the artifact: {reason}",
            hint=hint
            or "an artifact keeps regular files and links that stay inside its tree, nothing else",
        )


class TagMoved(Refused):
    """A release tag names another commit than the one its stored artifact was built from."""

    def __init__(self, tag: str, built_commit: str, now_commit: str, digest: str) -> None:
        self.tag = tag
        self.built_commit = built_commit
        self.now_commit = now_commit
        self.digest = digest
        super().__init__(
            f"tag {tag!r} was moved: it was built from commit {built_commit[:12]} "
            f"({label(digest)}) and now names commit {now_commit[:12]}",
            hint=f"a release tag names one build: tag commit {now_commit[:12]} as a new release "
            f"candidate (e.g. {tag}-rc2 or the next version) and build that, or name the "
            f"earlier build by its digest {label(digest)}",
        )


class ReleaseFolderChanged(Refused):
    """A prepared release folder's files differ from the digest recorded when it was made."""

    def __init__(self, environment: str, folder: str, problem: str) -> None:
        self.environment = environment
        self.folder = folder
        self.problem = problem
        super().__init__(
            f"the prepared release folder {folder} of {environment} was changed after it "
            f"was prepared ({problem}); refusing to run it",
            hint=f"keep it for inspection (`mv {folder} {folder}.changed`) and deploy again: "
            "the folder is then prepared afresh from the verified artifact",
        )


class Held(Refused):
    """Sign-off holds the release; ``holds`` pairs each reason with what would clear it."""

    def __init__(self, environment: str, version: str, holds: Sequence[tuple[str, str]]) -> None:
        self.environment = environment
        self.holds = list(holds)
        count = len(self.holds)
        super().__init__(
            f"{version} is held in {environment}: {self.holds[0][0]}"
            + (f" (and {count - 1} more reason{'s' if count > 2 else ''})" if count > 1 else ""),
            hint=self.holds[0][1],
        )


class SchemaRefused(Refused):
    """A rollback would run an older release on a schema it did not run on."""

    def __init__(
        self,
        environment: str,
        *,
        database: str | None,
        expected: str | None,
        reason: str,
        choices: Sequence[str],
    ) -> None:
        self.environment = environment
        self.database = database
        self.expected = expected
        self.choices = list(choices)
        options = " or ".join(choice.split(":", 1)[0] for choice in self.choices)
        super().__init__(
            reason,
            hint=(f"nothing was switched; choose {options}" if options else "nothing was switched")
            + " (`stageline rollback --dry-run` shows what each would do)",
        )


class ReachesLive(Refused):
    """Release code given to a gate would open the live database: some of the variables
    it would get name that database outright (written literally in the pipeline file),
    so re-resolving them against the copy could not redirect them. Nothing was run."""

    def __init__(
        self, what: str, environment: str, database: str, variables: Mapping[str, str]
    ) -> None:
        self.environment = environment
        self.database = database
        self.variables = dict(variables)
        fixes = ", ".join(f'{name} = "${{{fact}}}"' for name, fact in sorted(variables.items()))
        super().__init__(
            f"{what} would have reached the live database {database}, so it was not run: "
            f"{', '.join(sorted(variables))} {'names' if len(variables) == 1 else 'name'} it "
            "outright; interpolate them from "
            f"${{postgres.*}} in [environments.{environment}.vars] ({fixes}) so stageline "
            "can point them at a copy",
            hint="see docs/safety.md: release code other than the service gets a copy, "
            "never live data",
        )


class InfrastructureError(StagelineError):
    """Something stageline depends on failed."""

    exit_code = 3


class GitError(InfrastructureError):
    """A git command failed: a ref that does not resolve, a folder that is not a repository."""


class BuildError(InfrastructureError):
    """A build step failed; ``log_tail`` holds the last lines of its output."""

    def __init__(self, message: str, *, log_tail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


class DiskFull(InfrastructureError):
    """A write failed because its file system is full (ENOSPC)."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        super().__init__(
            f"{what}: no space left on the device holding {path}",
            hint="free space there (`df -h` shows it; `stageline artifacts` lists builds "
            "that may be removed) and try again",
        )


class StoreError(InfrastructureError):
    """The state store cannot be opened, migrated or written."""


class LockHeld(InfrastructureError):
    """Another operation holds the lock we need."""

    def __init__(self, name: str, holder: str, since: datetime) -> None:
        self.name = name
        self.holder = holder
        self.since = since
        super().__init__(
            f"{name} is locked by {holder} since {since:%Y-%m-%d %H:%M:%S %Z}".rstrip(),
            hint="wait for it to finish, then try again",
        )


class BackingServiceError(InfrastructureError):
    """A backing service (PostgreSQL) could not be found, started or prepared."""


class DeployFailed(InfrastructureError):
    """A deploy step failed; the previous release is running again. Carries the log tail."""

    def __init__(
        self, environment: str, message: str, *, log_tail: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.environment = environment
        self.log_tail = log_tail


class AgentError(InfrastructureError):
    """The host agent failed an order; ``log_tail`` holds the service's last log lines."""

    def __init__(self, message: str, *, log_tail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail
