"""``--quick`` for every benchmark: the smallest sizes that still run the real path.

A benchmark declares its quick sizes once; ``--quick`` makes them the defaults, so an
option given as well still wins (``--quick --rounds 2``). tests/bench/test_benches.py
runs every benchmark with ``--quick``, so one that breaks fails the test suite.
"""

from __future__ import annotations

import argparse
from typing import Any


def parse(parser: argparse.ArgumentParser, **quick: Any) -> argparse.Namespace:
    """Parse the command line, with ``quick`` as the defaults under ``--quick``."""
    sizes = ", ".join(f"{name.replace('_', '-')} {value}" for name, value in quick.items())
    parser.add_argument(
        "--quick", action="store_true", help=f"a quick run that checks it works ({sizes})"
    )
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick)
        args = parser.parse_args()
    return args
