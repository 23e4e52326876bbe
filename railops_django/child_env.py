"""The environment a child process gets.

Every subprocess railops starts (pg_dump, pg_restore, the native engine's workers, the
``--version`` probes, the diagnosis's WSGI import) gets its environment from ``child_env``:
never ``os.environ`` whole, which holds ``DATABASE_URL``, ``SECRET_KEY`` and webhook URLs.
A child keeps only what a program needs to run (``PATH``, ``HOME``, ``TZ``, the locale:
``LANG``/``LANGUAGE``/``LC_*``, ``TMPDIR``), plus libpq's ``PG*`` variables when it talks to
PostgreSQL, plus what the caller adds by name. The WSGI import needs the project's variables
(its settings read them): it gets them over stdin and sets them itself, so they never sit in
its initial environment, which any process of the same user reads in ``/proc/PID/environ``.

This module imports nothing from the rest of railops, so ``db/`` and ``diagnose/`` both use it
without an import circle.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# What any program needs to find itself, its locale and its time zone; nothing secret.
BASE = ("PATH", "HOME", "TZ", "LANG", "LANGUAGE", "TMPDIR", "SYSTEMROOT")


def child_env(
    extra: Mapping[str, str] | None = None,
    *,
    pg: bool = False,
    keep: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A fresh environment for a child: the base names, ``PG*`` when ``pg``, ``keep``, ``extra``.

    ``extra`` wins over what is inherited (a caller's ``PGPASSWORD`` over an ambient one).
    """
    source = os.environ if environ is None else environ
    wanted = set(BASE) | set(keep)
    env = {
        name: value
        for name, value in source.items()
        if name in wanted or name.startswith("LC_") or (pg and name.startswith("PG"))
    }
    env.update(extra or {})
    return env
