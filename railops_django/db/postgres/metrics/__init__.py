"""PostgreSQL health metrics, grouped by what they measure: each module holds its queries and
the functions that turn their rows into ``Measurement``s. ``postgres/health.py`` runs the queries
in one read-only transaction and calls each group.
"""
