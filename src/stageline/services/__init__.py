"""Backing services an environment needs (PostgreSQL for now)."""

from stageline.services.postgres import PgBinaries, PostgresServer, find_binaries, free_port

__all__ = ["PgBinaries", "PostgresServer", "find_binaries", "free_port"]
