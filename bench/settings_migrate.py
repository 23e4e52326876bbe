"""Settings for bench/migrate_bench.py: the test settings plus the lock-safety test app."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.migrate.apps.locksafe"]
