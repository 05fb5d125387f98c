"""The side-effect guard: irreversible effects run in production, are recorded elsewhere.

Outside the production tier a guarded call does not run: it is written to the outbox
(see :mod:`stageline.runtime.outbox`) so people testing staging can see what would have
happened. ``STAGELINE_ALLOW_<KIND>=1`` lets one kind run anyway, loudly, every time.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass

from stageline.runtime import outbox
from stageline.runtime.environment import Environment, current

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (~5 ms)
if TYPE_CHECKING:  # annotations only: importing typing at run time costs milliseconds
    import inspect
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")


@dataclass(frozen=True)
class Recorded:
    """A side effect that was recorded instead of run; ``id`` is the outbox record's."""

    kind: str
    id: str


def override_variable(kind: str) -> str:
    """The variable that lets ``kind`` run outside production: ``STAGELINE_ALLOW_<KIND>``."""
    return "STAGELINE_ALLOW_" + re.sub(r"[^A-Za-z0-9]", "_", kind).upper()


def allowed(kind: str) -> bool:
    """Whether a side effect of ``kind`` may really happen here (logged loudly if by override)."""
    env = current()
    if env.is_production:
        return True
    variable = override_variable(kind)
    value = os.environ.get(variable, "").strip()
    if value.lower() not in ("1", "true"):
        return False
    where = env.name if env.name == env.tier else f"{env.name} (tier {env.tier})"
    message = f"ALLOWING real {kind} in {where} because {variable}={value}"
    import logging

    logging.getLogger("stageline.runtime").warning(message)
    sys.stderr.write(f"stageline: {message}\n")
    sys.stderr.flush()
    return True


def _record(kind: str, function: str, args: dict[str, Any]) -> Recorded:
    import uuid
    from datetime import UTC, datetime

    env: Environment = current()
    record = {
        "id": uuid.uuid4().hex,
        "kind": kind,
        "function": function,
        "args": outbox.masked(args, outbox.secret_values()),
        "at": datetime.now(UTC).isoformat(),
        "environment": env.name,
        "tier": env.tier,
        "version": os.environ.get("STAGELINE_VERSION"),
        "digest": os.environ.get("STAGELINE_DIGEST"),
    }
    outbox.write(record, outbox.destination())
    return Recorded(kind, record["id"])


def record(kind: str, **details: Any) -> Recorded:
    """Record a side effect of ``kind`` in the outbox (call it when ``allowed`` is False)."""
    return _record(kind, "record", details)


class Guard:
    """``with runtime.guard("email") as g:``; ``g.allowed`` says whether to really act."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.allowed = False

    def __enter__(self) -> Guard:
        self.allowed = allowed(self.kind)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def record(self, **details: Any) -> Recorded:
        return record(self.kind, **details)


def guard(kind: str) -> Guard:
    """A context manager variant of :func:`side_effect` for code a decorator does not fit."""
    return Guard(kind)


def _by_name(bound: inspect.BoundArguments) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments passed by parameter name wherever the signature allows.

    So ``simulate=lambda order_id, amount_cents, **_: ...`` fits however the caller
    passed them (positionally or by name). Functions taking ``*args`` keep positions.
    """
    params = bound.signature.parameters.values()
    if any(p.kind is p.VAR_POSITIONAL and bound.arguments.get(p.name) for p in params):
        return list(bound.args), dict(bound.kwargs)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in params:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is param.POSITIONAL_ONLY:
            args.append(value)
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind is not param.VAR_POSITIONAL:
            kwargs[param.name] = value
    return args, kwargs


def side_effect(
    kind: str, simulate: Callable[..., Any] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function only where ``kind`` is allowed; record it elsewhere.

    Where it does not run, the call (its arguments bound to parameter names, secrets
    masked) goes to the outbox and the caller gets what ``simulate`` returns for the same
    arguments (passed by parameter name where the signature allows), or a
    :class:`Recorded` when no ``simulate`` is given. Works on async functions too.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        import inspect

        signature = inspect.signature(function)
        name = f"{function.__module__}.{function.__qualname__}"

        def instead(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            given_args, given_kwargs = _by_name(bound)
            bound.apply_defaults()
            recorded = _record(kind, name, dict(bound.arguments))
            return recorded if simulate is None else simulate(*given_args, **given_kwargs)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                if allowed(kind):
                    return await function(*args, **kwargs)
                result = instead(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if allowed(kind):
                return function(*args, **kwargs)
            return instead(*args, **kwargs)  # type: ignore[no-any-return]

        return run

    return decorate
