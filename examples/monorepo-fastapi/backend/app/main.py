"""``uvicorn app.main:app``: health, login and users under /api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from acme_common import normalize_username
from fastapi import Depends, FastAPI, Form, Header, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import config
from app.models import User
from app.security import create_token, token_is_valid


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_engine(config.database_url(), pool_pre_ping=True)
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        engine.dispose()


app = FastAPI(title="acme", lifespan=lifespan)


def session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        yield db


def admin(authorization: Annotated[str, Header()] = "") -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token_is_valid(config.token_key(), token):
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})


Db = Annotated[Session, Depends(session)]


class NewUser(BaseModel):
    name: str


@app.get("/api/v1/utils/health-check/")
def health_check(db: Db) -> dict[str, Any]:
    """200 only when the database answers a query on the service's own table."""
    try:
        users = db.execute(text("SELECT count(*) FROM users")).scalar_one()
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"database: {type(exc).__name__}") from exc
    return {"status": "ok", "database": "ok", "users": users}


@app.post("/api/v1/login/access-token")
def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
    expected = config.admin_password()
    if expected is None:
        raise HTTPException(503, "no ADMIN_PASSWORD is set: nobody can log in")
    if username != "admin" or password != expected:
        raise HTTPException(401, "wrong user name or password")
    return {"access_token": create_token(config.token_key()), "token_type": "bearer"}


@app.post("/api/v1/users/", status_code=201, dependencies=[Depends(admin)])
def register(new: NewUser, db: Db) -> dict[str, object]:
    try:
        user = User(name=normalize_username(new.name))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    db.add(user)
    try:
        db.commit()
    except IntegrityError as exc:
        raise HTTPException(409, f"the name {user.name!r} is taken") from exc
    return user.public()


@app.get("/api/v1/users/{name}", dependencies=[Depends(admin)])
def read_user(name: str, db: Db) -> dict[str, object]:
    user = db.scalars(select(User).where(User.name == name.lower())).one_or_none()
    if user is None:
        raise HTTPException(404, f"no user {name!r}")
    return user.public()
