"""Build stageline._speedups, the C masks of a snapshot, into the wheel (or in place, for
an editable install). Without a C compiler or OpenSSL's headers the build says so and
goes on: stageline then masks in Python alone (the same values, slower)."""

from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "src/stageline/_speedups.c"


class SpeedupsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        try:
            from setuptools import Distribution, Extension
            from setuptools.command.build_ext import build_ext

            extension = Extension("stageline._speedups", [SOURCE], libraries=["crypto"])
            dist = Distribution({"name": "stageline", "ext_modules": [extension],
                                 "package_dir": {"": "src"}})  # fmt: skip
            command = build_ext(dist)
            out = self._out = Path(tempfile.mkdtemp(prefix="stageline-build-"))
            command.build_lib = str(out)
            command.build_temp = str(out / "temp")
            command.ensure_finalized()
            command.run()
        except Exception as exc:  # any failure at all: build the pure wheel
            print(
                f"stageline: the C masks were not built ({exc}); snapshots mask in Python "
                "(install a C compiler and OpenSSL's headers, e.g. apt-get install gcc "
                "libssl-dev, and reinstall to build them)",
                file=sys.stderr,
            )
            return
        built = out / "stageline" / f"_speedups{suffix}"
        if version == "editable":  # the source tree is what gets imported
            # a new file put in place, never the loaded one rewritten under a running process
            target = root / "src" / "stageline" / built.name
            shutil.copyfile(built, target.with_suffix(".tmp"))
            target.with_suffix(".tmp").replace(target)
        else:
            build_data["force_include"][str(built)] = f"stageline/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
