import os
from importlib import import_module

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

# Modules the request path imports on first use (to keep `manage.py` commands and the
# test collection quick), loaded here at worker boot instead: the matching engine pulls
# in numpy and rapidfuzz (~0.6 s), which the first auto-match, manual match or review
# request of every worker process would otherwise wait for (issue #17: those first
# requests were the load test's slowest).
for _module in (
    "reconciliation.matching.engine",
    "reconciliation.services.auto_match",
    "reconciliation.services.discrepancies",
    "reconciliation.parsers.csv_statement",
    "reconciliation.parsers.camt053",
):
    import_module(_module)
