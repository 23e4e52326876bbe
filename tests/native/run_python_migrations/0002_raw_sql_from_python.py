from django.db import migrations


def create(apps, schema_editor):
    # As django-oscar's catalogue 0030 does for its materialized view.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "CREATE MATERIALIZED VIEW shelf_names AS SELECT name FROM railops_testapp_shelf"
        )
        cursor.execute("CREATE INDEX shelf_lower_name ON railops_testapp_shelf (lower(name))")


def drop(apps, schema_editor):
    schema_editor.execute("DROP MATERIALIZED VIEW shelf_names; DROP INDEX shelf_lower_name")


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
