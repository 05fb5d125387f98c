"""Parity: facts probed from running environments, their comparison, and the gaps.

``probe`` (I/O) collects an environment's :class:`Facts`; ``compare`` (pure) turns two
of them and the allow-lists into a :class:`Report`; ``gap`` measures the time and
personnel gaps; ``metrics`` computes the DORA figures; ``report`` holds the use cases.
"""

from stageline.parity.compare import Report, Row, compare
from stageline.parity.facts import Facts

__all__ = ["Facts", "Report", "Row", "compare"]
