from django.apps import AppConfig


class PeerNullDbDefaultConfig(AppConfig):
    name = "tests.migrate.apps.peer_null_db_default"
    label = "peer_null_db_default"
    default_auto_field = "django.db.models.BigAutoField"
