from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0002_renames")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX rack_title_in_stock_idx ON railops_testapp_rack (title) "
            "WHERE quantity > 0; "
            "ALTER TABLE railops_testapp_rack ADD CONSTRAINT rack_label_short "
            "CHECK (length(label) < 10)",
            "DROP INDEX rack_title_in_stock_idx; "
            "ALTER TABLE railops_testapp_rack DROP CONSTRAINT rack_label_short",
        ),
    ]
