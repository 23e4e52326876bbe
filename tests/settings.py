"""Test settings: example_project's real settings, plus the test-only app.

The database comes from DATABASE_URL exactly as in example_project: SQLite by default,
PostgreSQL when DATABASE_URL points at one (CI runs both).
"""

import os
import tempfile

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
SECURE_SSL_REDIRECT = False

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so subprocesses started by tests see the same test database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"railops-test-{os.getpid()}.sqlite3")
    }
DATABASES["default"]["CONN_MAX_AGE"] = 0
