"""Read the pipeline file, merge ``[defaults]`` into each environment, and validate.

Every problem becomes a :class:`ConfigIssue` naming the file, the line and the key, what
was expected, and (for unknown names) the valid ones. All problems are collected before
raising, so ``stageline check`` shows them all at once.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stageline.config.locate import KeyLines
from stageline.config.model import (
    REVIEW_SCOPE,
    TIER_ALIASES,
    AccessPolicy,
    Dashboard,
    Environment,
    People,
    Pipeline,
    Review,
    Service,
    Tier,
)
from stageline.config.resolve import interpolate, known_names
from stageline.data.rules import DataRules
from stageline.errors import ConfigError, ConfigIssue, UnknownName, UsageError
from stageline.plugins import gate_options_model

PIPELINE_FILE = "stageline.toml"
TOP_LEVEL = (
    "service", "defaults", "environments", "people", "data", "dashboard", "access", "review",
)  # fmt: skip
_NOT_IN_DEFAULTS = ("name", "extends", "tier", "url")

_MISSING_HINTS = {
    ("service",): 'add a [service] table with name = "..." and start = "..."',
    ("service", "name"): 'e.g. name = "shop"',
    ("service", "start"): 'how to start it, e.g. start = "uvicorn app:app --port {port}"',
    ("target",): 'e.g. target = { kind = "local", port = 8101 }',
    ("target", "port"): "the port this environment's service listens on, e.g. port = 8101",
    ("tier",): "one of: development, testing, staging, production",
}


def find_pipeline_file(root: Path) -> Path:
    """``stageline.toml`` at ``root``, else a ``pyproject.toml`` with ``[tool.stageline]``."""
    root = root.resolve()
    if root.is_file():
        return root
    candidate = root / PIPELINE_FILE
    if candidate.is_file():
        return candidate
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError:
            data = {}
        if isinstance(data.get("tool"), dict) and "stageline" in data["tool"]:
            return pyproject
    raise UsageError(
        f"no {PIPELINE_FILE} (or [tool.stageline] in pyproject.toml) in {root}",
        hint="run `stageline init` to write a starter file, or cd to the service's root",
    )


def load_pipeline(root: Path) -> Pipeline:
    """Load and validate the whole pipeline file found at ``root`` (a folder or the file)."""
    return _Loader(find_pipeline_file(root)).pipeline()


def service_in_text(text: str, name: str, display: str) -> Service | None:
    """The ``[service]`` table of a pipeline file's ``text`` (``name`` is ``stageline.toml``
    or ``pyproject.toml``, whose ``[tool.stageline]`` is read), None when it has none;
    ConfigError naming ``display`` (e.g. ``stageline.toml at v1.2.0``) when it is invalid."""
    loader = _Loader(Path(name), text=text, display=display)
    if "service" not in loader.data:
        return None
    service = loader.service()
    loader.raise_if_any()
    return service


class _Loader:
    def __init__(self, path: Path, *, text: str | None = None, display: str | None = None) -> None:
        self.path = path
        self.display = display or str(path)
        self.issues: list[ConfigIssue] = []
        if text is None:
            text = path.read_text(encoding="utf-8")
        prefix: tuple[str, ...] = ("tool", "stageline") if path.name == "pyproject.toml" else ()
        self.lines = KeyLines(text, prefix)
        self.data = self._parse(text, prefix)

    # -- reporting ---------------------------------------------------------------------

    def add(self, path: tuple[str, ...], message: str, hint: str | None = None) -> None:
        key = ".".join(path)
        self.issues.append(ConfigIssue(self.display, self.lines.line(path), key, message, hint))

    def add_at(
        self, where: tuple[str, ...], key: tuple[str, ...], message: str, hint: str | None
    ) -> None:
        """An issue about ``key`` written (in ``[defaults]`` perhaps) at ``where``."""
        line = self.lines.line(where)
        self.issues.append(ConfigIssue(self.display, line, ".".join(key), message, hint))

    def raise_if_any(self) -> None:
        if self.issues:
            self.issues.sort(key=lambda issue: (issue.line or 0, issue.key))
            raise ConfigError(self.issues)

    # -- parsing -----------------------------------------------------------------------

    def _parse(self, text: str, prefix: tuple[str, ...]) -> dict[str, Any]:
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.issues.append(_decode_issue(self.display, str(exc)))
            raise ConfigError(self.issues) from None
        for part in prefix:
            data = data.get(part, {})
        return data

    def service(self) -> Service | None:
        raw = self.data.get("service")
        if raw is None:
            self.add(("service",), "missing required table [service]", _MISSING_HINTS[("service",)])
            return None
        if not isinstance(raw, dict):
            self.add(("service",), "expected a table")
            return None
        try:
            return Service.model_validate(raw)
        except ValidationError as exc:
            self._report(exc, Service, ("service",), ("service",))
            return None

    def pipeline(self) -> Pipeline:
        for key in self.data:
            if key not in TOP_LEVEL:
                self.add(
                    (key,), f"unknown key {key!r}", f"valid top-level keys: {', '.join(TOP_LEVEL)}"
                )
        service = self.service()
        defaults = self._table(("defaults",))
        for key in defaults:
            if key in _NOT_IN_DEFAULTS:
                self.add(
                    ("defaults", key), f"{key!r} cannot be a default", "set it per environment"
                )
        raw_envs = self._table(("environments",))
        if not raw_envs and not self.issues:
            self.add(("environments",), "declare at least one environment", "run `stageline init`")
        people = self._people()
        data = self._data()
        dashboard = self._dashboard()
        access = self._access()
        environments = self._environments(raw_envs, defaults)
        self._cross_checks(environments)
        for env in environments:
            self._check_process_types(env, service)
            self._check_gates(env, people)
            self._check_access(env, people)
            self._check_vars(env)
        review = self._review(people)
        if review is not None and REVIEW_SCOPE in [env.name for env in environments]:
            self.add(
                ("environments", REVIEW_SCOPE),
                f"{REVIEW_SCOPE!r} names the review environments' secrets scope ([review])",
                "rename this environment",
            )
        self.raise_if_any()
        assert service is not None
        return Pipeline(
            review=review,
            source=self.display,
            service=service,
            environments=environments,
            people=people,
            data=data,
            dashboard=dashboard,
            access=access,
        )

    def _people(self) -> People:
        raw = self._table(("people",))
        try:
            return People.model_validate(raw)
        except ValidationError as exc:
            self._report(exc, People, ("people",), ("people",))
            return People()

    def _check_gates(self, env: Environment, people: People) -> None:
        """Each gate's options, validated by its kind's plug-in's ``Options`` model (found
        through the ``stageline.gates`` entry points, never by importing the gates
        package); groups must exist."""
        sources = [("environments", env.name), ("defaults",)]
        for name, gate in env.gates.items():
            here = ("environments", env.name, "gates", name)
            try:
                options_model = gate_options_model(gate.kind)
                options = options_model.model_validate(
                    gate.options, context={"groups": people.groups}
                )
            except UnknownName as exc:
                where = _first_present(self.lines, ("gates", name, "kind"), tuple(sources))
                self.issues.append(
                    ConfigIssue(
                        self.display,
                        self.lines.line(where or here),
                        ".".join((*here, "kind")),
                        str(exc),
                        exc.hint,
                    )
                )
                continue
            except ValidationError as exc:
                gate_sources = tuple((*s, "gates", name) for s in sources)
                self._report(exc, options_model, here, *gate_sources)
                continue
            for reviewer in getattr(options, "reviewers", []):
                group = reviewer.removeprefix("group:")
                if reviewer.startswith("group:") and group not in people.groups:
                    self.add(
                        (*here, "reviewers"),
                        f"unknown group {group!r}",
                        f"groups are declared in [people.groups]: "
                        f"{', '.join(people.groups) or 'none yet'}",
                    )

    def _check_process_types(self, env: Environment, service: Service | None) -> None:
        """Process types beside ``web`` run only under blue/green (switched together)."""
        if service is None or not service.workers or env.strategy == "blue-green":
            return
        self.add(
            ("environments", env.name, "strategy"),
            f"process type(s) {', '.join(service.workers)} need strategy = 'blue-green' "
            "(they are switched together with web)",
            "remove the strategy line (blue-green is the default), or the extra process types",
        )

    def _check_vars(self, env: Environment) -> None:
        """Every ``${name}`` in the vars must be a fact this environment has."""
        facts = dict.fromkeys(known_names(env), "")
        for name, value in env.vars.items():
            try:
                interpolate(value, facts, where=f"environments.{env.name}.vars.{name}")
            except UnknownName as exc:
                sources = (("environments", env.name), ("defaults",))
                where = _first_present(self.lines, ("vars", name), sources)
                key = f"environments.{env.name}.vars.{name}"
                message = f"unknown name ${{{exc.name}}}; known: {', '.join(exc.valid)}"
                issue = ConfigIssue(
                    self.display, self.lines.line(where or ()), key, message, exc.hint
                )
                self.issues.append(issue)

    def _check_access(self, env: Environment, people: People) -> None:
        """``[environments.X.access]`` may only name groups that exist."""
        for rule in ("deploy", "promote", "override_freeze", "force"):
            for entry in getattr(env.access, rule) or []:
                group = entry.removeprefix("group:")
                if entry.startswith("group:") and group not in people.groups:
                    self.add(
                        ("environments", env.name, "access", rule),
                        f"unknown group {group!r}",
                        f"groups are declared in [people.groups]: "
                        f"{', '.join(people.groups) or 'none yet'}",
                    )

    def _data(self) -> DataRules:
        """``[data]``: snapshot masking rules (see ``stageline.data.rules``)."""
        try:
            return DataRules.model_validate(self._table(("data",)))
        except ValidationError as exc:
            self._report(exc, DataRules, ("data",), ("data",))
            return DataRules()

    def _dashboard(self) -> Dashboard:
        """``[dashboard]``: anonymous = "read" | "none" (see stageline.web)."""
        try:
            return Dashboard.model_validate(self._table(("dashboard",)))
        except ValidationError as exc:
            self._report(exc, Dashboard, ("dashboard",), ("dashboard",))
            return Dashboard()

    def _access(self) -> AccessPolicy:
        """``[access]``: mode, allowed_signers, admins (see stageline.identity)."""
        try:
            return AccessPolicy.model_validate(self._table(("access",)))
        except ValidationError as exc:
            self._report(exc, AccessPolicy, ("access",), ("access",))
            return AccessPolicy()

    def _review(self, people: People) -> Review | None:
        """``[review]``: the review environments' template; its gates checked as an
        environment's are."""
        if "review" not in self.data:
            return None
        try:
            review = Review.model_validate(self._table(("review",)))
        except ValidationError as exc:
            self._report(exc, Review, ("review",), ("review",))
            return None
        for name, gate in review.gates.items():
            try:
                gate_options_model(gate.kind).model_validate(
                    gate.options, context={"groups": people.groups}
                )
            except UnknownName as exc:
                self.add(("review", "gates", name, "kind"), str(exc), exc.hint)
            except ValidationError as exc:
                here = ("review", "gates", name)
                self._report(exc, gate_options_model(gate.kind), here, here)
        return review

    def _table(self, path: tuple[str, ...]) -> dict[str, Any]:
        raw = self.data.get(path[0], {})
        if not isinstance(raw, dict):
            self.add(path, f"expected a table, got {type(raw).__name__}")
            return {}
        return raw

    # -- environments ------------------------------------------------------------------

    def _environments(
        self, raw_envs: dict[str, Any], defaults: dict[str, Any]
    ) -> list[Environment]:
        seen: dict[str, str] = {}
        result: list[Environment] = []
        for name, raw in raw_envs.items():
            here = ("environments", name)
            if not isinstance(raw, dict):
                self.add(here, "expected a table [environments." + name + "]")
                continue
            if name.lower() in seen:
                self.add(here, f"duplicate environment (same as {seen[name.lower()]!r})")
                continue
            seen[name.lower()] = name
            chain = self._extends_chain(name, raw_envs)
            if chain is None:
                continue
            merged = _merge(defaults, *[raw_envs[n] for n in reversed(chain)])
            merged.pop("extends", None)
            merged["name"] = name
            if "tier" not in merged:
                named = [
                    TIER_ALIASES.get(n, n)
                    for n in chain
                    if TIER_ALIASES.get(n, n) in Tier.__members__
                ]
                if named:
                    merged["tier"] = named[0]
            target = merged.get("target")
            if "url" not in merged and isinstance(target, dict) and "port" in target:
                merged["url"] = f"http://127.0.0.1:{target['port']}"
            try:
                env = Environment.model_validate(merged)
            except ValidationError as exc:
                sources = [("environments", n) for n in chain] + [("defaults",)]
                self._report(exc, Environment, here, *sources)
                continue
            result.append(env.model_copy(update={"extends": raw.get("extends")}))
        return result

    def _extends_chain(self, name: str, raw_envs: dict[str, Any]) -> list[str] | None:
        """``[name, parent, grandparent, ...]``, or None after reporting a bad reference."""
        chain = [name]
        current = raw_envs[name]
        while isinstance(current, dict) and "extends" in current:
            parent = current["extends"]
            where = ("environments", chain[-1], "extends")
            if not isinstance(parent, str) or parent not in raw_envs:
                valid = [n for n in raw_envs if n != chain[-1]]
                self.add(
                    where,
                    f"unknown environment {parent!r}",
                    f"valid environments: {', '.join(valid) or 'none'}",
                )
                return None
            if parent in chain:
                self.add(where, f"circular extends: {' -> '.join([*chain, parent])}")
                return None
            chain.append(parent)
            current = raw_envs[parent]
        return chain

    def _cross_checks(self, environments: list[Environment]) -> None:
        ports: dict[int, str] = {}
        for env in environments:
            port = env.target.port
            if port in ports:
                self.add(
                    ("environments", env.name, "target", "port"),
                    f"port {port} is already used by environment {ports[port]!r}",
                    "give each environment its own port",
                )
            else:
                ports[port] = env.name

    # -- pydantic errors -> issues -----------------------------------------------------

    def _report(
        self,
        exc: ValidationError,
        model: type[BaseModel],
        here: tuple[str, ...],
        *sources: tuple[str, ...],
    ) -> None:
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            where = _first_present(self.lines, loc, sources) or here
            message, hint = _describe(error, model, loc, here + loc)
            line = self.lines.line(where)
            key = ".".join(here + loc)
            self.issues.append(ConfigIssue(self.display, line, key, message, hint))


def _first_present(
    lines: KeyLines, loc: tuple[str, ...], sources: tuple[tuple[str, ...], ...]
) -> tuple[str, ...] | None:
    """The most specific written place of ``loc``: the key itself, else its nearest table."""
    for depth in range(len(loc), 0, -1):
        for source in sources:
            if lines.has(source + loc[:depth]):
                return source + loc[:depth]
    return None


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables left to right; later layers win, lists are replaced whole."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def _fields_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """The valid keys of the table at ``loc`` inside ``model``."""
    current: type[BaseModel] = model
    for part in loc:
        field = current.model_fields.get(part)
        if field is None:
            return []
        nested = _model_in(field.annotation)
        if nested is None:
            return []
        current = nested
    return list(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _describe(
    error: Any, model: type[BaseModel], loc: tuple[str, ...], full: tuple[str, ...]
) -> tuple[str, str | None]:
    kind = error["type"]
    key = loc[-1] if loc else ""
    got = error.get("input")
    if kind == "extra_forbidden":
        valid = [k for k in _fields_at(model, loc[:-1]) if k != "name"]
        return f"unknown key {key!r}", f"valid keys here: {', '.join(valid)}"
    if kind == "missing":
        hint = _MISSING_HINTS.get(full[-2:]) or _MISSING_HINTS.get(full[-1:])
        return f"missing required key {key!r}", hint
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got!r}", None
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"unknown value {got!r}", f"expected one of: {expected.replace(' or ', ', ')}"
    if kind == "string_pattern_mismatch":
        return (
            f"{got!r} is not a valid name",
            "use lowercase letters, digits and '-', starting with a letter",
        )
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{got!r} is out of range: {error['msg'].lower()}", None
    message = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    return message.replace("Input should be", "expected"), None


_DUPLICATE = re.compile(r"Cannot declare \('environments', '([^']+)'\) twice")


def _decode_issue(display: str, message: str) -> ConfigIssue:
    line_match = re.search(r"at line (\d+)", message)
    line = int(line_match.group(1)) if line_match else None
    duplicate = _DUPLICATE.search(message)
    if duplicate:
        return ConfigIssue(
            display,
            line,
            f"environments.{duplicate.group(1)}",
            "duplicate environment: declared twice",
            "merge the two tables into one",
        )
    text = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    return ConfigIssue(display, line, "", f"not valid TOML: {text}", "fix the syntax at that line")
