"""What a CI workflow needs to know of a pipeline, decided from the pipeline file alone.

=====================  =================================================================
fact                   rule
=====================  =================================================================
``staging``            the first environment of the staging tier (its gates are what
                       ``verify`` runs on every tag); a pipeline without one is refused
``tags``               staging's ``accept`` globs: a tag it would refuse starts no job
``github_tags``        the same globs as GitHub's tag filters (``?`` widened to ``*``)
``tag_regex``          the same globs as one anchored regular expression (GitLab's
                       ``rules: if: $CI_COMMIT_TAG =~ /.../``): ``*`` any run, ``?`` one
                       character, ``[...]`` a class (``[!x]`` negated), as fnmatch;
                       everything else literal (an unclosed ``[`` too)
``promotions``         ``ship`` promotes through the environments whose ``promotion`` is
                       "auto"; each environment up to staging it stops before is one
                       ``stageline promote PREVIOUS`` after it
``folder``             where the pipeline file sits from the repository's top ("." at the
                       top): the jobs run there
``python``             ``[service] python`` when it is a version (an interpreter path
                       means nothing to a CI file): the build's Python, set up first
``review_hours``       ``[review] ttl_hours`` (72): GitLab's ``auto_stop_in``
``home``               where the host keeps artifacts, agent and environments between
                       jobs (a checkout is wiped): ``/var/lib/stageline/<service>``
=====================  =================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.config.model import Pipeline, Tier
from stageline.errors import UsageError

#: a ``[service] python`` that names a version (3.12, 3.12.4), not an interpreter path
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
#: a glob's wildcards as regular expressions; every other character of ``_SPECIAL`` is
#: escaped (``/`` too: GitLab writes the expression between slashes)
_GLOB = {"*": ".*", "?": "."}
_SPECIAL = frozenset(".^$+()[]{}|\\/")
#: the CI secret (GitHub) or variable (GitLab) holding the team's state store URL
DATABASE_SECRET = "STAGELINE_DATABASE_URL"
#: the JUnit report ``verify`` writes, uploaded by both workflows
JUNIT_REPORT = "stageline-junit.xml"


@dataclass(frozen=True)
class CiPlan:
    """Everything the templates fill in; every field is decided by :func:`plan`."""

    service: str
    staging: str
    staging_url: str
    tags: tuple[str, ...]
    github_tags: tuple[str, ...]
    tag_regex: str
    promotions: tuple[str, ...]
    folder: str
    python: str | None
    home: str
    #: how long GitLab keeps a review environment before stopping it (``auto_stop_in``):
    #: ``[review] ttl_hours`` (its default without a ``[review]`` table)
    review_hours: int = 72
    database_secret: str = DATABASE_SECRET
    junit: str = JUNIT_REPORT

    def at_top(self, name: str) -> str:
        """The path from the repository's top of a file a job writes (where CI looks)."""
        return name if self.folder == "." else f"{self.folder}/{name}"


def plan(pipeline: Pipeline, folder: str = ".") -> CiPlan:
    """The facts of ``pipeline`` (whose file sits in ``folder`` of its repository)."""
    staging = next((e for e in pipeline.environments if e.tier == Tier.staging), None)
    if staging is None:
        raise UsageError(
            f"{pipeline.source} has no environment of the staging tier: CI ships every "
            "tag to staging and verifies it there",
            hint='add one (tier = "staging") before the production environment',
        )
    python = pipeline.service.python
    return CiPlan(
        service=pipeline.service.name,
        staging=staging.name,
        staging_url=staging.url,
        tags=tuple(staging.accept),
        github_tags=github_filters(staging.accept),
        tag_regex=tag_regex(staging.accept),
        promotions=promotions(pipeline, staging.name),
        folder=folder,
        python=python if python and _VERSION.match(python) else None,
        home=f"/var/lib/stageline/{pipeline.service.name}",
        review_hours=pipeline.review.ttl_hours if pipeline.review is not None else 72,
    )


def tag_regex(globs: list[str]) -> str:
    """One anchored regular expression matching exactly the tags ``globs`` match (with
    ``fnmatch``'s rules, as stageline's ``accept`` does)."""
    parts = [_glob_regex(glob) for glob in globs]
    body = parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"
    return f"^{body}$"


def _glob_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        c, i = glob[i], i + 1
        close = glob.find("]", i + 1) if c == "[" else -1
        if close != -1:  # a class: [abc], [0-9], [!x] (negated)
            inside = glob[i:close]
            out.append("[" + ("^" + inside[1:] if inside.startswith("!") else inside) + "]")
            i = close + 1
        else:
            out.append(_GLOB.get(c, "\\" + c if c in _SPECIAL else c))
    return "".join(out)


def github_filters(globs: list[str]) -> tuple[str, ...]:
    """``globs`` as GitHub's tag filters, matching every tag they match: GitHub reads
    ``?`` as "the character before, optional" and ``+`` and a leading ``!`` as
    operators, so ``?`` becomes ``*`` (never narrower) and ``+``/``!`` are escaped. A
    GitHub ``*`` stops at ``/``; stageline refuses a tag staging does not accept, so a
    wider filter costs a run, never a wrong release."""
    return tuple(
        "".join("*" if c == "?" else "\\" + c if c in "+!" else c for c in glob) for glob in globs
    )


def promotions(pipeline: Pipeline, staging: str) -> tuple[str, ...]:
    """The environments to ``promote`` after ``ship`` so that the tag reaches ``staging``
    (``ship`` stops before the first environment whose promotion is manual)."""
    chain = [*pipeline.earlier(staging), pipeline.environment(staging)]
    reached = 0
    while reached + 1 < len(chain) and chain[reached + 1].promotion == "auto":
        reached += 1
    return tuple(env.name for env in chain[reached:-1])
