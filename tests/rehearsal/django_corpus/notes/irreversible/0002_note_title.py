# ruff: noqa: RUF012  (Django migrations declare their operations as class lists)
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.AddField("note", "title", models.TextField(null=True))]
