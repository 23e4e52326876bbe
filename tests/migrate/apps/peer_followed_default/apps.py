from django.apps import AppConfig


class PeerFollowedDefaultConfig(AppConfig):
    name = "tests.migrate.apps.peer_followed_default"
    label = "peer_followed_default"
    default_auto_field = "django.db.models.BigAutoField"
