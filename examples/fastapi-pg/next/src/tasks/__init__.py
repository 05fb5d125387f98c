"""A small task list: FastAPI + SQLAlchemy + Alembic on PostgreSQL, configured the way
many real services are, by POSTGRES_SERVER/PORT/DB/USER/PASSWORD (never DATABASE_URL)."""

__version__ = "1.1.0"
