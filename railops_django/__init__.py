"""railops-django: diagnose, health, safe migrations, backups and rollback for Django on Railway."""

__version__ = "0.1.0"
