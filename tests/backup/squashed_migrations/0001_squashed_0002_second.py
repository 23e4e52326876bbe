from django.db import migrations


class Migration(migrations.Migration):
    """A squash shipped next to the migrations it replaces, as wagtail ships its own."""

    initial = True
    replaces = [("railops_testapp", "0001_initial"), ("railops_testapp", "0002_second")]
    dependencies: list[tuple[str, str]] = []
    operations: list[migrations.operations.base.Operation] = []
