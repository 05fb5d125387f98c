"""The service's routes as its code declares them, the health route among them, and
whether a route's handler touches the database. Pure: read, never imported.

Routes are decorators with a path (``@app.get("/healthz")``, ``@router.route(...)``,
Litestar's ``@get(...)``), prefixed by their router's constant ``prefix``/``url_prefix``
and by the ``include_router``/``register_blueprint`` call that mounts it when that is a
constant; Django's are the ``path()``/``re_path()`` patterns reached from
``ROOT_URLCONF`` through ``include("module")``. A prefix that is not a constant makes the
route ``uncertain`` (the file then asks).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from stageline.config.detect.framework import Entry, django_settings
from stageline.config.detect.tree import Tree, is_service_code, join

_VERBS = frozenset({"get", "route", "api_route", "head"})
_ROUTERS = {"APIRouter": "prefix", "Blueprint": "url_prefix", "Router": "path"}
_MOUNTS = {"include_router": "prefix", "register_blueprint": "url_prefix"}
#: names a handler uses when it reaches the database
_DB_WORDS = frozenset({
    "execute", "objects", "cursor", "connection", "connect", "session", "Session",
    "SessionDep", "engine", "db", "query", "scalar", "scalars", "get_db", "get_session",
    "select", "exec", "fetch", "fetchrow", "fetchval", "ping",
})  # fmt: skip
HEALTH = re.compile(r"health|ready|readiness|liveness|alive|status|ping", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    path: str
    handler: str  # the function's name
    file: str
    touches_database: bool
    #: a mount prefix could not be read: the path may lack it
    uncertain: bool = False
    has_parameters: bool = False


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def touches_database(function: ast.AST) -> bool:
    for node in ast.walk(function):
        word = (
            node.id
            if isinstance(node, ast.Name)
            else node.attr
            if isinstance(node, ast.Attribute)
            else None
        )
        if word in _DB_WORDS:
            return True
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.match(r"\s*SELECT\b", node.value, re.IGNORECASE)
        ):
            return True
    return False


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".py")


@dataclass(frozen=True)
class _Mount:
    module: str  # where the mounting call is (file's base name)
    parent: str  # what it is mounted on (a router, or the application)
    prefix: str | None  # None: not a constant init could read


class _Prefixes:
    """Routers (``APIRouter(prefix=...)``, ``Blueprint(url_prefix=...)``), where each is
    mounted (``include_router``/``register_blueprint``), and the string constants the
    code defines (a prefix is often ``settings.API_V1_STR``)."""

    def __init__(self, tree: Tree, paths: list[str]) -> None:
        self.routers: dict[tuple[str, str], str] = {}
        self.mounts: dict[str, _Mount] = {}
        self.constants: dict[str, str] = {}
        for path in paths:
            module = tree.python(path)
            if module is not None:
                self._read(_base(path), module)

    def _read(self, base: str, module: ast.Module) -> None:
        for node in ast.walk(module):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if isinstance(target, ast.Name) and _text(node.value) is not None:
                    self.constants.setdefault(target.id, str(_text(node.value)))
        for node in module.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in _ROUTERS and isinstance(node.targets[0], ast.Name):
                    prefix = _text(_keyword(node.value, _ROUTERS[called])) or ""
                    self.routers[(base, node.targets[0].id)] = prefix
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            mounting = node.func
            if isinstance(mounting, ast.Attribute) and mounting.attr in _MOUNTS:
                self._mount(base, node, mounting)

    def _mount(self, base: str, call: ast.Call, func: ast.Attribute) -> None:
        mounted = call.args[0]
        name = getattr(mounted, "id", "")
        if isinstance(mounted, ast.Attribute):
            name = f"{getattr(mounted.value, 'id', '')}.{mounted.attr}"
        parent = getattr(func.value, "id", "")
        self.mounts[name] = _Mount(base, parent, self._value(_keyword(call, _MOUNTS[func.attr])))

    def _value(self, node: ast.expr | None) -> str | None:
        if node is None:
            return ""
        if _text(node) is not None:
            return _text(node)
        last = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        return self.constants.get(last) if isinstance(last, str) else None

    def full(self, base: str, name: str, depth: int = 0) -> tuple[str, bool]:
        """(the whole prefix of router ``name`` of module ``base``, whether one part of it
        could not be read)."""
        own = self.routers.get((base, name), "")
        mount = self.mounts.get(f"{base}.{name}") or self.mounts.get(name)
        if mount is None or depth > 6:
            return own, False
        above, uncertain = "", mount.prefix is None
        if (mount.module, mount.parent) in self.routers:
            above, unread = self.full(mount.module, mount.parent, depth + 1)
            uncertain = uncertain or unread
        return above + (mount.prefix or "") + own, uncertain


def _decorated(tree: Tree, path: str, prefixes: _Prefixes) -> list[Route]:
    module = tree.python(path)
    if module is None:
        return []
    routes = []
    for node in ast.walk(module):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call) or not decorator.args:
                continue
            func = decorator.func
            verb = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            route = _text(decorator.args[0])
            if verb not in _VERBS or route is None:
                continue
            owner = (
                func.value.id
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                else ""
            )
            methods = _keyword(decorator, "methods")
            if isinstance(methods, ast.List) and "GET" not in [_text(m) for m in methods.elts]:
                continue
            prefix, uncertain = prefixes.full(_base(path), owner)
            full = (
                "/" + (prefix + "/" + route.lstrip("/")).strip("/")
                if route.strip("/") or prefix
                else "/"
            )
            full += "/" if route.endswith("/") and full != "/" else ""
            routes.append(Route(full, node.name, path, touches_database(node), uncertain,
                                "{" in full or "<" in full))  # fmt: skip
    return routes


def _django_patterns(tree: Tree, module: str, prefix: str, depth: int = 0) -> list[tuple[str, str]]:
    """(path, view's last name) of the patterns ``module`` declares, includes followed."""
    path = module.replace(".", "/") + ".py"
    parsed = tree.python(path)
    if parsed is None or depth > 4:
        return []
    found: list[tuple[str, str]] = []
    for node in ast.walk(parsed):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("path", "re_path")):
            continue
        if len(node.args) < 2 or _text(node.args[0]) is None:
            continue
        route = prefix + str(_text(node.args[0])).lstrip("^").rstrip("$")
        view = node.args[1]
        if isinstance(view, ast.Call) and getattr(view.func, "id", "") == "include" and view.args:
            included = _text(view.args[0])
            if included:
                found += _django_patterns(tree, included, route, depth + 1)
            continue
        name = view.attr if isinstance(view, ast.Attribute) else getattr(view, "id", "")
        if isinstance(view, ast.Call) and isinstance(view.func, ast.Attribute):  # View.as_view()
            name = getattr(view.func.value, "id", "") or getattr(view.func.value, "attr", "")
        found.append(("/" + route, name))
    return found


def django_routes(tree: Tree, folder: str, urlconf: str) -> list[Route]:
    """The routes ``urlconf`` (a module under ``folder``) declares, each with its view."""
    functions: dict[str, tuple[ast.AST, str]] = {}
    for path in tree.python_files(folder):
        module = tree.python(path) if is_service_code(path) else None
        for node in module.body if module else []:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                functions.setdefault(node.name, (node, path))
    inside = tuple(p[len(folder) + 1 :] for p in tree.files if p.startswith(folder + "/"))
    sub = Tree(tree.root / folder, inside) if folder else tree
    routes = []
    for route, view in _django_patterns(sub, urlconf, ""):
        handler, where = functions.get(view, (None, join(folder, urlconf)))
        touches = handler is not None and touches_database(handler)
        routes.append(Route(route, view, where, touches, False, "<" in route or "(" in route))
    return routes


def _listed(tree: Tree, path: str) -> list[Route]:
    """Starlette's ``Route("/path", endpoint)`` entries (a ``Mount`` prefix makes them
    uncertain: it is not followed)."""
    module = tree.python(path)
    if module is None:
        return []
    functions = {
        n.name: n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    mounted = any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Mount"
                  for n in ast.walk(module))  # fmt: skip
    found = []
    for node in ast.walk(module):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Route"):
            continue
        if len(node.args) < 2 or _text(node.args[0]) is None:
            continue
        route, handler = str(_text(node.args[0])), getattr(node.args[1], "id", "")
        touches = handler in functions and touches_database(functions[handler])
        found.append(Route(route, handler, path, touches, mounted, "{" in route))
    return found


def routes(tree: Tree, under: str = "") -> list[Route]:
    paths = [p for p in tree.python_files(under) if is_service_code(p)]
    prefixes = _Prefixes(tree, paths)
    return [r for path in paths for r in (*_decorated(tree, path, prefixes), *_listed(tree, path))]


def project_routes(tree: Tree, entry: Entry | None, root: str) -> list[Route]:
    """The routes of the service: Django's from ``ROOT_URLCONF``, else the decorated ones."""
    if entry is None or entry.framework != "django":
        return routes(tree, root)
    found = django_settings(tree)
    match = None
    if found is not None and found[2]:
        match = re.search(r"""^ROOT_URLCONF\s*=\s*["']([\w.]+)["']""", tree.text(found[2]), re.M)
    return django_routes(tree, entry.import_root, match.group(1)) if match else []


@dataclass(frozen=True)
class Health:
    path: str
    #: why this path: "health route" or "a page that reads the database", or a question
    why: str
    touches_database: bool
    question: str = ""


def _health_rank(route: Route) -> tuple[int, int, int, str]:
    name = route.path.lower()
    exact = 0 if re.search(r"/healthz?/?$", name) else 1
    return (int(route.uncertain), int(not route.touches_database), exact, route.path)


def choose_health(found: list[Route]) -> Health:
    """The health route (one touching the database first), else a plain GET page that
    reads the database, else ``/`` with a question."""
    plain = [r for r in found if not r.has_parameters]
    health = sorted((r for r in plain if HEALTH.search(r.path)), key=_health_rank)
    if health:
        best = health[0]
        question = ""
        if best.uncertain:
            question = f"{best.path} is mounted under a prefix init could not read: check the path"
        elif not best.touches_database:
            question = (
                f"{best.path} ({best.handler} in {best.file}) does not seem to touch the "
                "database: a deploy can look healthy with the database unreachable"
            )
        return Health(best.path, "health route", best.touches_database, question)
    pages = sorted((r for r in plain if r.touches_database and not r.uncertain),
                   key=lambda r: (r.path.count("/"), r.path))  # fmt: skip
    if pages:
        page = pages[0]
        why = "a page that reads the database (no health route found)"
        ask = "no health route found: add one that queries the database, then set health"
        return Health(page.path, why, True, ask)
    ask = "no health route found: which path answers 200 when the service works?"
    return Health("/", "no route found", False, ask)
