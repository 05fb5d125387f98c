"""Load and validate the pipeline file (``stageline.toml`` or ``[tool.stageline]``)."""

from stageline.config.loader import find_pipeline_file, load_pipeline
from stageline.config.model import Environment, Pipeline, Postgres, Service, Target, Tier

__all__ = [
    "Environment",
    "Pipeline",
    "Postgres",
    "Service",
    "Target",
    "Tier",
    "find_pipeline_file",
    "load_pipeline",
]
