"""A settings module that raises on import, with a secret in the message (must be masked)."""

import os

DATABASE_PASSWORD = os.environ.get("PGPASSWORD", "")
raise RuntimeError(f"cannot reach vault with password {DATABASE_PASSWORD}")
