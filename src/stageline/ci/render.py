"""The CI files, rendered from the Jinja2 templates beside this module, and written.

Values reach the YAML through two filters only, so no template escapes by hand:
``q`` writes a YAML double-quoted scalar (JSON's string syntax, which YAML reads as
is), ``sh`` a shell word (``shlex.quote``) inside a job's script.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from stageline import __version__
from stageline.ci.plan import CiPlan
from stageline.errors import UsageError

#: each kind of CI file: where it goes from the repository's top
FILES = {"github": ".github/workflows/stageline.yml", "gitlab": ".gitlab-ci.yml"}


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("stageline.ci", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML: the filters below quote what varies
    )
    env.filters["q"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    return env


def render(kind: str, plan: CiPlan) -> str:
    """The text of ``kind``'s CI file (a key of :data:`FILES`) for ``plan``."""
    template = _templates().get_template(f"{kind}.yml.j2")
    return template.render(p=plan, version=__version__)


def write(top: Path, kind: str, text: str, *, force: bool = False) -> Path:
    """Write ``text`` as ``kind``'s file under the repository's ``top``; an existing file
    is kept (UsageError) unless ``force``."""
    path = top / FILES[kind]
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
