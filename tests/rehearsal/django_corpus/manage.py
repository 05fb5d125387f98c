"""A minimal Django project for the rehearsal tests: one app, ``notes``, whose migration
set is chosen by NOTES_MIGRATIONS ("irreversible" or "broken")."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
