# ruff: noqa: RUF012  (Django migrations declare their operations as class lists)
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_note_title")]
    operations = [migrations.RunSQL("CREATE INDEX ix_note_missing ON notes_note (missing)")]
