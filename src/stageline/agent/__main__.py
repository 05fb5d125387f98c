"""``python -m stageline.agent --home PATH``: run the host agent in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stageline.agent.server import run_agent
from stageline.errors import AgentError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stageline.agent", description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="the .stageline folder")
    parser.add_argument("--log", type=Path, help="log to this file, rotated (else stderr)")
    args = parser.parse_args(argv)
    try:
        run_agent(args.home, log_file=args.log)
    except AgentError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        print(f"stageline agent: error: {exc}{hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
