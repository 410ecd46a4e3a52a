"""Production: every secret comes from the environment; refuse to start without them."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASE_URL

SECRET_KEY = os.environ["SECRET_KEY"]
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL is required: postgres://user:password@host:5432/name")
DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
