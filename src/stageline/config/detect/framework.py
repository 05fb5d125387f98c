"""Which web framework the service uses, where its application object is, and how to
start it with the server it depends on. Pure: a ``Tree`` in, plain data out.

An application is found by reading the code: a module-level ``app = FastAPI(...)``
(``Starlette``, ``Litestar``, ``Flask``), an ``app = create_app()`` whose factory builds
one, or a factory alone (``def create_app(): ... Flask(__name__)``, started as
``'module:create_app()'``). Django is found by ``manage.py``: its
``DJANGO_SETTINGS_MODULE``, then the settings' ``WSGI_APPLICATION`` (else
``<settings package>.wsgi``). The module path is the file's path from its import root
(the folder above its outermost package), and the service root is the nearest folder
at or above that import root that declares dependencies.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from stageline.config.detect.tree import (
    Requirements,
    Tree,
    is_service_code,
    join,
    parent,
    requirement_files,
)

#: the class that makes an application, per framework
CLASSES = {"FastAPI": "fastapi", "Starlette": "starlette", "Litestar": "litestar", "Flask": "flask"}
ASGI = frozenset({"fastapi", "starlette", "litestar"})
#: files that usually hold the application, best first
PREFERRED = ("main.py", "app.py", "asgi.py", "wsgi.py", "__init__.py", "server.py", "api.py")
#: files that say "this folder is a service" (for the service root)
MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "manage.py", "uv.lock", "poetry.lock")


@dataclass(frozen=True)
class Entry:
    """The service's application: ``module:attribute`` importable from ``import_root``."""

    framework: str  # fastapi | starlette | litestar | flask | django
    path: str  # the file that defines it
    module: str
    attribute: str  # "app", or "create_app()" for a factory
    import_root: str
    service_root: str

    @property
    def target(self) -> str:
        return f"{self.module}:{self.attribute}"


def _called(node: ast.expr) -> str | None:
    """The name a call calls (``FastAPI`` for ``FastAPI(...)`` and ``fastapi.FastAPI(...)``)."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else None
    )


def _builds(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The framework a function builds an application of (a call of its class inside)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and _called(node) in CLASSES:
            return CLASSES[str(_called(node))]
    return None


def _takes_nothing(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = function.args
    return len(args.args) - len(args.defaults) <= 0 and not args.posonlyargs


def _factories(tree: Tree, paths: list[str]) -> dict[str, str]:
    """Every module-level function of the code that builds an application: name -> framework."""
    found: dict[str, str] = {}
    for path in paths:
        module = tree.python(path)
        for node in module.body if module else []:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _takes_nothing(node):
                framework = _builds(node)
                if framework:
                    found.setdefault(node.name, framework)
    return found


@dataclass(frozen=True)
class _Candidate:
    framework: str
    path: str
    attribute: str
    factory: bool

    def rank(self) -> tuple[int, int, int, str]:
        name = self.path.rsplit("/", 1)[-1]
        preferred = PREFERRED.index(name) if name in PREFERRED else len(PREFERRED)
        return (int(self.factory), self.path.count("/"), preferred, self.path)


def _candidates(tree: Tree, path: str, factories: dict[str, str]) -> list[_Candidate]:
    module = tree.python(path)
    found = []
    for node in module.body if module else []:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, called = node.targets[0], _called(node.value)
            if isinstance(target, ast.Name) and called is not None:
                framework = CLASSES.get(called) or factories.get(called)
                if framework:
                    found.append(_Candidate(framework, path, target.id, False))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in factories:
            found.append(_Candidate(factories[node.name], path, f"{node.name}()", True))
    return found


def import_root(tree: Tree, path: str) -> str:
    """The folder ``path`` is imported from: above its outermost package."""
    folder = parent(path)
    while folder and tree.has(join(folder, "__init__.py")):
        folder = parent(folder)
    return folder


def module_name(path: str, root: str) -> str:
    relative = path[len(root) + 1 :] if root else path
    dotted = relative.removesuffix(".py").replace("/", ".")
    return dotted.removesuffix(".__init__")


def service_root(tree: Tree, folder: str) -> str:
    """The nearest folder at or above ``folder`` that declares the service's dependencies."""
    at = folder
    while True:
        if any(tree.has(join(at, m)) for m in MARKERS) or requirement_files(tree, at):
            return at
        if not at:
            return ""
        at = parent(at)


def find_app(tree: Tree) -> Entry | None:
    """The application the code defines (Django first: its manage.py says where)."""
    django = find_django(tree)
    if django is not None:
        return django
    paths = [p for p in tree.python_files() if is_service_code(p)]
    factories = _factories(tree, paths)
    candidates = [c for path in paths for c in _candidates(tree, path, factories)]
    if not candidates:
        return None
    best = min(candidates, key=_Candidate.rank)
    root = import_root(tree, best.path)
    return Entry(
        best.framework, best.path, module_name(best.path, root), best.attribute, root,
        service_root(tree, root),
    )  # fmt: skip


_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")
_WSGI = re.compile(r"""^WSGI_APPLICATION\s*=\s*["']([\w.]+)["']""", re.MULTILINE)


def django_settings(tree: Tree) -> tuple[str, str, str] | None:
    """(manage.py's folder, settings module, settings file) of a Django project."""
    for manage in sorted((p for p in tree.files if p.rsplit("/", 1)[-1] == "manage.py"),
                         key=lambda p: p.count("/")):  # fmt: skip
        found = _SETTINGS.search(tree.text(manage))
        if found is None:
            continue
        folder = parent(manage)
        dotted = found.group(1).replace(".", "/")
        for candidate in (join(folder, f"{dotted}.py"), join(folder, f"{dotted}/__init__.py")):
            if tree.has(candidate):
                return folder, found.group(1), candidate
        return folder, found.group(1), ""
    return None


def find_django(tree: Tree) -> Entry | None:
    found = django_settings(tree)
    if found is None:
        return None
    folder, settings, settings_file = found
    wsgi = _WSGI.search(tree.text(settings_file)) if settings_file else None
    if wsgi is not None:
        module, _, attribute = wsgi.group(1).rpartition(".")
    else:
        module, attribute = settings.rsplit(".", 1)[0] + ".wsgi", "application"
    path = join(folder, module.replace(".", "/") + ".py")
    return Entry("django", path, module, attribute, folder, service_root(tree, folder))


@dataclass(frozen=True)
class Start:
    """The start command, and a question for the file when it is a guess."""

    command: str
    question: str = ""


#: gunicorn made a control socket in the working folder from 25.1 (a sealed release
#: folder refuses it): newer or unpinned versions are told not to
_CONTROL_SOCKET = (25, 1)


def _gunicorn(target: str, deps: Requirements, extra: str = "") -> str:
    quoted = f"'{target}'" if "(" in target else target
    command = f"gunicorn {quoted}{extra} --bind {{host}}:{{port}}"
    pinned = deps.pinned("gunicorn")
    if pinned is None or pinned >= _CONTROL_SOCKET:
        command += " --no-control-socket"
    return command


def start_command(entry: Entry, deps: Requirements) -> Start:
    """How to start ``entry`` with the server the service depends on."""
    target = entry.target
    chdir = entry.import_root != entry.service_root and not entry.import_root.endswith("src")
    if entry.framework in ASGI:
        standard = "standard" in deps.extras.get(entry.framework, "")
        if deps.has("uvicorn") or standard:
            app_dir = (
                f" --app-dir {entry.import_root[len(entry.service_root) :].strip('/')}"
                if chdir
                else ""
            )
            factory = " --factory" if target.endswith("()") else ""
            app = target.removesuffix("()")
            return Start(f"uvicorn {app}{factory}{app_dir} --host {{host}} --port {{port}}")
        if deps.has("hypercorn"):
            return Start(f"hypercorn '{target}' --bind {{host}}:{{port}}")
        if deps.has("granian"):
            return Start(f"granian --interface asgi {target} --host {{host}} --port {{port}}")
        if deps.has("gunicorn"):
            return Start(_gunicorn(target, deps, " --worker-class uvicorn.workers.UvicornWorker"))
        return Start(
            f"uvicorn {target.removesuffix('()')} --host {{host}} --port {{port}}",
            "no ASGI server among the dependencies: add uvicorn (or set your own start)",
        )
    if deps.has("gunicorn"):
        return Start(_gunicorn(target, deps))
    if deps.has("waitress"):
        call = " --call" if target.endswith("()") else ""
        return Start(f"waitress-serve --listen={{host}}:{{port}}{call} {target.removesuffix('()')}")
    question = (
        "no WSGI server among the dependencies: add gunicorn (a development server starts now)"
    )
    if entry.framework == "django":
        return Start("python manage.py runserver {host}:{port} --noreload", question)
    return Start(f"flask --app '{target}' run --host {{host}} --port {{port}}", question)
