"""Tiny real services in real git repositories, for the artifact tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

GIT_DATE = "2024-05-01T12:00:00+00:00"
UNREACHABLE = "http://127.0.0.1:9/simple"

APP_TOML = """\
[service]
name = "hello"
start = "python app.py"
bundle = ["conf/*.ini", "migrations/"]
build = ["python tools/collect.py static"]
"""

APP_FILES = {
    "stageline.toml": APP_TOML,
    "app.py": "import idna\nimport six\n\nVALUE = idna.encode('bücher.example').decode()\n",
    "tools/collect.py": (
        "import pathlib, sys\nimport six\n\n"
        "out = pathlib.Path(sys.argv[1])\nout.mkdir()\n"
        "(out / 'six.txt').write_text(six.__version__)\n"
    ),
    "conf/app.ini": "[app]\nname = hello\n",
    "migrations/0001_init.sql": "create table t (id int);\n",
    "requirements.txt": "six==1.16.0\nidna==3.7\n",
}

PACKAGE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "greet"
version = "0.3.0"
requires-python = ">=3.11"
dependencies = ["six>=1.16", "docopt==0.6.2"]

[tool.setuptools.packages.find]
where = ["src"]

[tool.stageline.service]
name = "greet"
start = "python -m greet"
bundle = ["migrations/"]
"""

PACKAGE_FILES = {
    "pyproject.toml": PACKAGE_PYPROJECT,
    "src/greet/__init__.py": "import docopt\nimport six\n\nGREETING = 'hello'\n",
    "migrations/0001.sql": "select 1;\n",
}


#: ``repo_factory(files, tag="v1.0.0", name="repo") -> Path`` (a fixture in conftest)
RepoFactory = Callable[..., Path]


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.com", GIT_AUTHOR_DATE=GIT_DATE,
        GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.com",
        GIT_COMMITTER_DATE=GIT_DATE, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
    )  # fmt: skip
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make_repo(path: Path, files: dict[str, str], tag: str | None = "v1.0.0") -> Path:
    """A git repository at ``path`` with ``files`` in one commit, tagged ``tag``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    if tag:
        git(path, "tag", "-a", tag, "-m", tag)
    return path


def run_python(venv: Path, code: str, cwd: Path | None = None) -> str:
    """Run ``code`` in the venv's python, isolated from this process's import path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
