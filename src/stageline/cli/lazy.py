"""Commands whose module is imported only when the command runs, so the CLI starts fast.

``stageline --help`` lists every command from a static table (name, module, attribute,
one-line help); ``stageline CMD ...`` imports ``CMD``'s module, builds the command
exactly as ``app.command(name)(function)`` or ``app.add_typer(sub_app, name=name)``
would, and hands the arguments to it. So ``stageline version`` never imports
SQLAlchemy, psycopg, httpx or Starlette.

A group opts in by subclassing :class:`LazyGroup` with its table and being given as
``typer.Typer(cls=...)``. The one-line help in the table must be the first paragraph of
the real command's help (a test compares them), since the listing must not import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """One command: ``name`` runs ``module.attribute`` (a function or a ``typer.Typer``)."""

    name: str
    module: str
    attribute: str
    help: str

    def load(self) -> Any:
        """Build the real command: import the module, wire it as Typer would."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=self.name)
            group = typer.main.get_command(holder)
            assert isinstance(group, TyperGroup)
            return group.commands[self.name]
        holder.command(self.name)(target)
        return typer.main.get_command(holder)


class LazyCommand(TyperCommand):
    """Stands in for a command in the listing; loads the real one when it is used.

    ``make_context`` (what a group calls to run a subcommand, and what ``CMD --help``
    goes through) returns the real command's context, so the real command parses,
    prints its own help, and runs.
    """

    def __init__(self, spec: Lazy) -> None:
        super().__init__(spec.name, help=spec.help)
        self.spec = spec
        self._real: Any = None

    def real(self) -> Any:
        """The real click command (built once)."""
        if self._real is None:
            self._real = self.spec.load()
        return self._real

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        return self.real().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """A Typer group whose ``lazy`` commands follow its own, loaded on first use."""

    lazy: ClassVar[tuple[Lazy, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for spec in self.lazy:
            self.add_command(LazyCommand(spec))
