# ruff: noqa: RUF012  (Django migrations declare their operations as class lists)
from django.db import migrations


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    Note = apps.get_model("notes", "Note")
    Note.objects.update(title="untitled")


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_note_title")]
    # no reverse_code: Django cannot undo this one
    operations = [migrations.RunPython(fill)]
