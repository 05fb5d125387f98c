# ruff: noqa: RUF012  (Django migrations declare their operations as class lists)
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("text", models.TextField()),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO notes_note (text) SELECT 'note ' || i FROM generate_series(1, 500) i",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
