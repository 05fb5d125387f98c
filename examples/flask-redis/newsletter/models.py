from __future__ import annotations

from datetime import datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()


class Subscriber(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: set by the worker once the welcome job is done
    welcomed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "welcomed": self.welcomed_at is not None}
