"""Settings of the noticeboard.

The database is DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD (DATABASE_URL is never read);
ADMIN_PASSWORD is the secret the admin logs in with (unset: nobody can). Static files are
collected into STATIC_ROOT and their CSS compressed ahead of time (COMPRESS_OFFLINE) by
the build steps ``manage.py collectstatic`` then ``manage.py compress``; whitenoise
serves them.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD", "")

INSTALLED_APPS = ["django.contrib.staticfiles", "compressor", "members"]
# No CSRF middleware: the only writes are the JSON API and the login form, used by scripts.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "noticeboard.urls"
WSGI_APPLICATION = "noticeboard.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", ""),
        "PORT": os.environ.get("DB_PORT", ""),
        "NAME": os.environ.get("DB_NAME", ""),
        "USER": os.environ.get("DB_USER", ""),
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "OPTIONS": {"connect_timeout": 5},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "compressor.finders.CompressorFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
COMPRESS_ENABLED = True
COMPRESS_OFFLINE = True
