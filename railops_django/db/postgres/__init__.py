"""PostgreSQL: connection parameters, the health probe, the two backup engines (``pg_dump``
and ``native``, with the native dumper's stream format and worker).

Reached through the strategy table in ``db/__init__.py``; nothing outside ``db/`` imports it.
"""
