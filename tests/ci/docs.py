"""docs/ci.md ends with the two files ``stageline ci init`` writes for examples/shop.

Refresh them after a template change: ``.venv/bin/python -m tests.ci.docs``.
"""

from __future__ import annotations

from pathlib import Path

from stageline.ci.plan import plan
from stageline.ci.render import FILES, render
from stageline.config import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ci.md"
SHOP = ROOT / "examples" / "shop"
#: where the generated part of docs/ci.md starts
FIRST = "\n## `.github/workflows/stageline.yml`\n"


def shop_file(kind: str) -> str:
    """What ``ci init KIND`` writes for examples/shop at its repository's top."""
    return render(kind, plan(load_pipeline(SHOP)))


def generated() -> str:
    """The generated part: each file under its own heading, in a YAML block."""
    return "".join(
        f"\n## `{FILES[kind]}`\n\n```yaml\n{shop_file(kind)}```\n" for kind in ("github", "gitlab")
    )


def refresh() -> None:
    text = DOCS.read_text(encoding="utf-8")
    DOCS.write_text(text[: text.index(FIRST)] + generated(), encoding="utf-8")


if __name__ == "__main__":
    refresh()
