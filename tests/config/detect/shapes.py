"""Small project trees of the shapes init must read, written into tmp dirs by the tests.

- ``MONOREPO_FASTAPI``: a FastAPI package in ``backend/`` of a uv workspace (lock at the
  top), pydantic settings reading ``POSTGRES_*``, Alembic in ``backend/``, routers
  mounted under a settings constant (the full-stack FastAPI template's shape).
- ``DJANGO_STATIC``: a Django tree, direct pins in ``requirements.txt``, ``DB_*``,
  ``STATIC_ROOT`` and django-compressor, a health view that queries the database.
- ``FLASK_REDIS``: a Flask factory with Flask-SQLAlchemy and Flask-Migrate
  (``migrations/`` with its own ``alembic.ini``), Flask-Babel translations, a Redis
  worker, and a SQLite default behind ``DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path

from stageline.config.detect import Tree

Files = dict[str, str]


def make(root: Path, files: Files) -> Tree:
    """Write ``files`` (path -> text) under ``root`` and read them as a ``Tree``."""
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return Tree.at(root)


MONOREPO_FASTAPI: Files = {
    "pyproject.toml": '[project]\nname = "acme"\nversion = "0"\n\n'
    '[tool.uv.workspace]\nmembers = ["backend"]\n',
    "uv.lock": "version = 1\n",
    "frontend/package.json": "{}\n",
    "backend/pyproject.toml": '[project]\nname = "app"\nversion = "0.1.0"\n'
    'dependencies = ["fastapi[standard]>=0.115", "sqlmodel>=0.0.21", "alembic>=1.13",\n'
    '  "psycopg[binary]>=3.1", "pydantic-settings>=2.2"]\n\n'
    '[dependency-groups]\ndev = ["pytest>=8", "mypy"]\n\n'
    '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
    "backend/alembic.ini": "[alembic]\nscript_location = app/alembic\n",
    "backend/app/__init__.py": "",
    "backend/app/alembic/env.py": "from app.core.config import settings\n",
    "backend/app/alembic/versions/0001_init.py": "revision = '0001'\n",
    "backend/app/core/__init__.py": "",
    "backend/app/core/config.py": (
        "from pydantic_settings import BaseSettings\n\n"
        "class Settings(BaseSettings):\n"
        '    API_V1_STR: str = "/api/v1"\n'
        "    POSTGRES_SERVER: str\n    POSTGRES_PORT: int = 5432\n    POSTGRES_USER: str\n"
        '    POSTGRES_PASSWORD: str = ""\n    POSTGRES_DB: str = ""\n'
        "    SECRET_KEY: str = 'changethis'\n\n"
        "settings = Settings()\n"
    ),
    "backend/app/core/db.py": (
        "from sqlmodel import create_engine\nfrom app.core.config import settings\n"
        "engine = create_engine(f'postgresql+psycopg://{settings.POSTGRES_USER}@x')\n"
    ),
    "backend/app/main.py": (
        "from fastapi import FastAPI\n\nfrom app.api.main import api_router\n"
        "from app.core.config import settings\n\n"
        'app = FastAPI(title="app")\n'
        "app.include_router(api_router, prefix=settings.API_V1_STR)\n"
    ),
    "backend/app/api/__init__.py": "",
    "backend/app/api/main.py": (
        "from fastapi import APIRouter\n\nfrom app.api.routes import items, utils\n\n"
        "api_router = APIRouter()\napi_router.include_router(utils.router)\n"
        "api_router.include_router(items.router)\n"
    ),
    "backend/app/api/routes/__init__.py": "",
    "backend/app/api/routes/utils.py": (
        "from fastapi import APIRouter\nfrom sqlmodel import select\n"
        "from app.api.deps import SessionDep\n\n"
        'router = APIRouter(prefix="/utils", tags=["utils"])\n\n'
        '@router.get("/health-check/")\n'
        "def health_check(session: SessionDep) -> bool:\n"
        "    session.exec(select(1))\n    return True\n"
    ),
    "backend/app/api/routes/items.py": (
        "from fastapi import APIRouter\n\n"
        'router = APIRouter(prefix="/items")\n\n'
        '@router.get("/{item_id}")\ndef read_item(item_id: int) -> int:\n    return item_id\n'
    ),
    "backend/tests/test_main.py": "def test_it():\n    assert True\n",
}

DJANGO_STATIC: Files = {
    "requirements.txt": "Django==5.1.4\ngunicorn==23.0.0\npsycopg[binary]==3.2.3\n"
    "django-compressor==4.5.1\nwhitenoise==6.8.2\n",
    "requirements-dev.txt": "-r requirements.txt\npytest==8.3.4\npytest-django==4.9.0\n",
    "manage.py": (
        "import os, sys\n\nif __name__ == '__main__':\n"
        "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "    from django.core.management import execute_from_command_line\n"
        "    execute_from_command_line(sys.argv)\n"
    ),
    "mysite/__init__.py": "",
    "mysite/settings.py": (
        "import os\nfrom pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n"
        "SECRET_KEY = os.environ['DJANGO_SECRET_KEY']\n"
        "INSTALLED_APPS = ['django.contrib.staticfiles', 'compressor', 'pages']\n"
        "ROOT_URLCONF = 'mysite.urls'\nWSGI_APPLICATION = 'mysite.wsgi.application'\n"
        "DATABASES = {'default': {\n    'ENGINE': 'django.db.backends.postgresql',\n"
        "    'HOST': os.environ.get('DB_HOST', 'localhost'),\n"
        "    'PORT': os.environ.get('DB_PORT', '5432'),\n"
        "    'NAME': os.environ.get('DB_NAME', 'mysite'),\n"
        "    'USER': os.environ.get('DB_USER', 'mysite'),\n"
        "    'PASSWORD': os.environ.get('DB_PASSWORD', ''),\n}}\n"
        "# DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}\n"
        "STATIC_URL = 'static/'\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\n"
        "STATICFILES_FINDERS = ['compressor.finders.CompressorFinder']\n"
    ),
    "mysite/urls.py": (
        "from django.contrib import admin\nfrom django.urls import include, path\n\n"
        "urlpatterns = [\n    path('admin/', admin.site.urls),\n"
        "    path('', include('pages.urls')),\n]\n"
    ),
    "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\n"
    "application = get_wsgi_application()\n",
    "pages/__init__.py": "",
    "pages/urls.py": (
        "from django.urls import path\nfrom pages import views\n\n"
        "urlpatterns = [\n    path('health/', views.health),\n    path('', views.home),\n"
        "    path('article/<int:pk>/', views.article),\n]\n"
    ),
    "pages/views.py": (
        "from django.db import connection\nfrom django.http import HttpResponse\n\n"
        "def health(request):\n    with connection.cursor() as cursor:\n"
        "        cursor.execute('SELECT 1')\n    return HttpResponse('ok')\n\n"
        "def home(request):\n    return HttpResponse('home')\n\n"
        "def article(request, pk):\n    return HttpResponse(str(pk))\n"
    ),
    "pages/migrations/__init__.py": "",
    "pages/migrations/0001_initial.py": "from django.db import migrations\n",
    "pages/templates/pages/base.html": "{% load compress %}{% compress css %}{% endcompress %}\n",
    "pages/tests/test_pages.py": "def test_it():\n    assert True\n",
}

FLASK_REDIS: Files = {
    "pyproject.toml": '[project]\nname = "flaskr"\nversion = "1.0"\n'
    'dependencies = ["flask>=3", "flask-sqlalchemy", "flask-migrate", "flask-babel",\n'
    '  "redis", "rq", "gunicorn", "psycopg[binary]"]\n\n'
    '[project.optional-dependencies]\ntest = ["pytest"]\n\n'
    '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
    "requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n",
    "flaskr/__init__.py": (
        "import os\nfrom flask import Flask\nfrom flask_migrate import Migrate\n"
        "from flaskr.db import db\n\nmigrate = Migrate()\n\n"
        "def create_app(test_config=None):\n    app = Flask(__name__)\n"
        "    app.config['SQLALCHEMY_DATABASE_URI'] = os.environ.get(\n"
        "        'DATABASE_URL', 'sqlite:///flaskr.sqlite')\n"
        "    app.config['REDIS_URL'] = os.environ.get('REDIS_URL', 'redis://localhost')\n"
        "    db.init_app(app)\n    migrate.init_app(app, db)\n"
        "    from flaskr import main\n    app.register_blueprint(main.bp)\n    return app\n"
    ),
    "flaskr/db.py": "from flask_sqlalchemy import SQLAlchemy\ndb = SQLAlchemy()\n",
    "flaskr/main.py": (
        "from flask import Blueprint\nfrom sqlalchemy import text\nfrom flaskr.db import db\n\n"
        "bp = Blueprint('main', __name__)\n\n"
        "@bp.route('/healthz')\ndef healthz():\n"
        "    db.session.execute(text('SELECT 1'))\n    return {'status': 'ok'}\n\n"
        "@bp.route('/post', methods=['POST'])\ndef post():\n    return 'ok'\n"
    ),
    "flaskr/worker.py": (
        "import os\nfrom redis import Redis\nfrom rq import Worker\n\n"
        "def main():\n    redis = Redis.from_url(os.environ['REDIS_URL'])\n"
        "    Worker(['default'], connection=redis).work()\n"
    ),
    "flaskr/translations/de/LC_MESSAGES/messages.po": 'msgid "Hello"\nmsgstr "Hallo"\n',
    "migrations/alembic.ini": "[alembic]\n",
    "migrations/env.py": "from flask import current_app\nconfig = None\n",
    "migrations/versions/0001_first.py": "revision = '0001'\n",
    "tests/test_app.py": "def test_it():\n    assert True\n",
}
