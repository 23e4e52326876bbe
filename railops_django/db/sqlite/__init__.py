"""SQLite: the health probe and the backup engine (the online backup API).

Reached through the strategy table in ``db/__init__.py``; nothing outside ``db/`` imports it.
"""
