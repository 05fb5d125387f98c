"""Settings of a service that ignores DATABASE_URL: DB_HOST, DB_PORT, DB_NAME, DB_USER
and DB_PASSWORD only."""

import os

SECRET_KEY = "rehearsal-tests-only"
USE_TZ = True
INSTALLED_APPS = ["notes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["DB_NAME"],
        "USER": os.environ["DB_USER"],
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "HOST": os.environ["DB_HOST"],
        "PORT": os.environ["DB_PORT"],
    }
}
MIGRATION_MODULES = {"notes": f"notes.{os.environ.get('NOTES_MIGRATIONS', 'irreversible')}"}
