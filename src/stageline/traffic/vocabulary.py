"""Which routes one environment's recorder keeps: the fold of what shape cannot tell.

:func:`~stageline.traffic.profile.normalize` replaces every segment that does not look
like a route word. A one-word value (a user name in ``/users/alice``) does look like
one, so the recorder also counts, per **position** (the method and the template of the
segments before it), the distinct words seen there:

- up to ``max_children`` distinct words, a position is a route word's place and keeps
  them (``/users/me``, ``/users/settings``);
- the next new word makes the position a **parameter**: from then on every word there is
  written ``{other}``, including the ones kept before, since the recorder folds each
  minute again just before it writes it (:meth:`Vocabulary.fold`). So a position that
  turns out to hold values within the minute it first appears never reaches the disk;
  one that fills up more slowly may have written at most ``max_children`` words before.
- at most ``max_routes`` routes per environment; the rest are counted as
  ``METHOD /{other}``, so neither memory nor the store grows with a crawler's paths.

The vocabulary lives in the front's memory; a front that starts recording first learns
the routes its environment wrote in the last days (:meth:`Vocabulary.learn`), so a
position that had become a parameter stays one across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable

from stageline.traffic.profile import OTHER, split_route

MAX_CHILDREN = 20
MAX_ROUTES = 500


class Vocabulary:
    """The positions and routes one environment's recorder has seen (see the module
    docstring). ``version`` changes whenever a position becomes a parameter, so a cache
    of folded routes knows to start again."""

    def __init__(self, max_children: int = MAX_CHILDREN, max_routes: int = MAX_ROUTES) -> None:
        self.max_children, self.max_routes = max_children, max_routes
        self.version = 0
        self._children: dict[str, set[str]] = {}
        self._parameters: set[str] = set()
        self._routes: set[str] = set()

    def fold(self, route: str) -> str:
        """``route`` (a :func:`normalize` result, or a route folded before) as this
        environment records it now."""
        method, path = split_route(route)
        segments = path.split("/")
        for i in range(1, len(segments)):
            word = segments[i]
            if word and not word.startswith("{"):
                segments[i] = self._word(method + " " + "/".join(segments[:i]), word)
        folded = method + " " + "/".join(segments)
        if folded in self._routes:
            return folded
        if len(self._routes) >= self.max_routes:
            return f"{method} /{OTHER}"
        self._routes.add(folded)
        return folded

    def learn(self, routes: Iterable[str]) -> None:
        """Take in routes recorded before: their words as known words, every ``{other}``
        position as a parameter. ``METHOD /{other}`` is skipped: it may be the fold of
        the routes over the cap, not a parameter at the root."""
        for route in routes:
            method, path = split_route(route)
            if path == "/" + OTHER:
                continue
            segments = path.split("/")
            for i in range(1, len(segments)):
                position, word = method + " " + "/".join(segments[:i]), segments[i]
                if word == OTHER:
                    self._parameters.add(position)
                    self._children.pop(position, None)
                elif word and not word.startswith("{") and position not in self._parameters:
                    self._children.setdefault(position, set()).add(word)
            if len(self._routes) < self.max_routes:
                self._routes.add(route)
        self.version += 1

    def _word(self, position: str, word: str) -> str:
        if position in self._parameters:
            return OTHER
        children = self._children.setdefault(position, set())
        if word in children:
            return word
        if len(children) < self.max_children:
            children.add(word)
            return word
        self._parameters.add(position)
        del self._children[position]
        self.version += 1
        return OTHER
