"""The Celery app and nothing else: configuration lives in settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("reconciliation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
