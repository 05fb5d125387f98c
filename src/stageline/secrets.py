"""Secret values for an environment's service.

For now they come from the operator's environment, one variable per environment and
name: ``STAGELINE_SECRET_<ENV>_<NAME>``. Each environment reads only its own names, so
staging never receives production's. The names themselves are declared in the pipeline
file; values never are.
"""

from __future__ import annotations

import os
import re

from stageline.config.model import Environment


def secrets_for(env: Environment) -> dict[str, str]:
    """The values of ``env``'s declared secrets that are set (missing ones are left out)."""
    prefix = "STAGELINE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", env.name.upper()) + "_"
    return {name: os.environ[prefix + name] for name in env.secrets if prefix + name in os.environ}
