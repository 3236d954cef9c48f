"""`bench-app-mid`: `manage.py check` of a small Django project, as one console script.

`check` sets Django up (every installed app, its models and admin), imports the URL configuration (the
admin's and a REST framework router's views and serializers) and runs the system checks on all of it:
most of what a Django process imports before it serves its first request, without a database. It
prints Django's one-line verdict, then `bench-app-mid ok`, the line the benchmark checks for (a check
that finds an error exits non-zero before it).
"""

from __future__ import annotations

import os

SCRIPT = "bench-app-mid"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_app_mid.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([SCRIPT, "check"])
    print(f"{SCRIPT} ok")
