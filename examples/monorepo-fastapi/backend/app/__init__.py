"""Acme's API (``uvicorn app.main:app``), shaped like the full-stack FastAPI template:
settings from POSTGRES_* variables, Alembic under ``app/alembic``, routes under /api/v1."""
