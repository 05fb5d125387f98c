"""Application factory and the ``app`` object that ``uvicorn shop.app:app`` serves.

Settings are read when the application starts (not at import), so importing this
module never needs a database; a missing DATABASE_URL stops startup with a clear error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shop import effects
from shop.api import router
from shop.db import make_engine, make_session_factory
from shop.settings import Settings, installed_version, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = settings or load_settings()
        engine = make_engine(active.database_url)
        effects.configure(payment_url=active.payment_url, email_url=active.email_url)
        app.state.settings = active
        app.state.sessions = make_session_factory(engine)
        app.version = active.version
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="shop", version=installed_version(), lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()
