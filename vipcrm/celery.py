"""The Celery application. The beat schedule is kept here, in code."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")

app = Celery("vipcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Every tenant's nightly jobs start at its own local time (Tenant.nightly_at); this
    # dispatcher wakes every few minutes and starts the tenants whose time has come.
    "dispatch-nightly-jobs": {
        "task": "vipcrm.tasks.dispatch_nightly_jobs",
        "schedule": crontab(minute="*/5"),
    },
}
