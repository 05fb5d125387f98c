"""Settings: the database from DATABASE_URL, nothing else installed but ``notes``."""

import os
from urllib.parse import unquote, urlsplit

_url = urlsplit(os.environ["DATABASE_URL"])
SECRET_KEY = "rehearsal-tests-only"
USE_TZ = True
INSTALLED_APPS = ["notes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": unquote(_url.username or ""),
        "PASSWORD": unquote(_url.password or ""),
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
    }
}
MIGRATION_MODULES = {"notes": f"notes.{os.environ.get('NOTES_MIGRATIONS', 'irreversible')}"}
