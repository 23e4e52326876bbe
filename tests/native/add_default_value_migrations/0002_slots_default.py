from django.db import migrations
from django_add_default_value import AddDefaultValue


class Migration(migrations.Migration):
    # django-add-default-value: a database default set by an operation from outside Django
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [AddDefaultValue(model_name="shelf", name="slots", value=7)]
