"""Production: every secret comes from the environment; refuse to start without them.

`manage.py check --deploy` is clean with only SECRET_KEY set. Behind a TLS-terminating
proxy set SECURE_PROXY_SSL_HEADER_ENABLED=true (the proxy must overwrite
X-Forwarded-Proto); README "Production settings" lists every variable.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASE_URL, env_bool

SECRET_KEY = os.environ["SECRET_KEY"]
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL is required: postgres://user:password@host:5432/name")
DEBUG = False

# HTTPS only: redirect plain HTTP (except the health check, which load balancers and the
# compose healthcheck call over plain HTTP inside the network), and tell browsers to
# never try HTTP again for SECURE_HSTS_SECONDS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
# Trust X-Forwarded-Proto only when told a proxy sets it; otherwise any client could
# claim HTTPS and get secure-only behaviour over plain HTTP.
if env_bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))  # a work day
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=True)
CSRF_COOKIE_HTTPONLY = True
