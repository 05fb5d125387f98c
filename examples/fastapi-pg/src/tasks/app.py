"""``uvicorn tasks.app:app``: a task list whose health check touches the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tasks import __version__
from tasks.settings import database_url

#: the columns this release reads and writes (the schema of its newest migration)
COLUMNS = "id, title, done"


class NewTask(BaseModel):
    title: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_engine(database_url(), pool_pre_ping=True)
    app.state.engine = engine
    try:
        yield
    finally:
        engine.dispose()


app = FastAPI(title="tasks", version=__version__, lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict[str, Any]:
    """200 only when the database answers a query on the service's own table."""
    try:
        with app.state.engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM tasks")).scalar_one()
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"database: {type(exc).__name__}") from exc
    return {"status": "ok", "database": "ok", "tasks": count, "version": __version__}


@app.get("/tasks")
def list_tasks() -> list[dict[str, Any]]:
    with app.state.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {COLUMNS} FROM tasks ORDER BY id")).mappings()
        return [dict(row) for row in rows]


@app.post("/tasks", status_code=201)
def add_task(task: NewTask) -> dict[str, Any]:
    with app.state.engine.begin() as conn:
        row = conn.execute(
            text(f"INSERT INTO tasks (title) VALUES (:title) RETURNING {COLUMNS}"),
            {"title": task.title},
        ).mappings()
        return dict(row.one())
