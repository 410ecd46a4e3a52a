"""Who is calling, and the admin login form's throttle (issue #12 §2).

`client_address` is the one definition of the client's address, used by the API token
route and the admin login alike: the socket address, unless settings name the proxies
in front of the app. A client-supplied `X-Forwarded-For` is ignored otherwise, so
rotating it no longer buys fresh counters.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from ledgers.login_throttle import (
    login_failure_record,
    login_success_record,
    login_throttle_check,
)
from ledgers.selectors import user_id_for

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The client's IP address as far as trusted infrastructure vouches for it.

    - TRUSTED_PROXIES (CIDRs): walk `X-Forwarded-For` + REMOTE_ADDR from the right, past
      every trusted hop; the first untrusted address is the client. A malformed entry
      ends the walk at the last good hop (what our proxy saw).
    - NUM_PROXIES = n: n proxies each appended one entry; the client is the n-th entry
      from the right (entries further left were written by the client and are ignored).
    - Neither: REMOTE_ADDR.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    forwarded = [
        part.strip()
        for part in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        if part.strip()
    ]
    trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
    if trusted:
        chosen = remote
        for hop in reversed([*forwarded, remote]):
            ip = _ip(hop)
            if ip is None:
                return chosen
            chosen = str(ip)
            if not any(ip in network for network in trusted):
                return chosen
        return chosen
    hops = settings.NUM_PROXIES
    if hops > 0 and forwarded:
        ip = _ip(forwarded[-min(hops, len(forwarded))])
        return str(ip) if ip is not None else remote
    return remote


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin login with the API's failed-login throttle (ledgers.login_throttle).

    A locked username or address gets a form error and, through `admin_login`, status 429
    with Retry-After; the password is not even checked while locked.
    """

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "too_many_login_attempts": ("Too many failed logins. Try again in %(seconds)s seconds."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password or self.request is None:
            return super().clean()
        address = client_address(self.request)
        wait = login_throttle_check(username=username, address=address)
        if wait is not None:
            self.request.login_retry_after = wait  # type: ignore[attr-defined]
            raise ValidationError(
                self.error_messages["too_many_login_attempts"],
                code="too_many_login_attempts",
                params={"seconds": wait},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(
                username=username, address=address, user_id=user_id_for(username=username)
            )
            raise
        login_success_record(username=username)
        return cleaned


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """`/admin/login/`: the admin's own view with the throttled form; a locked login is
    answered 429 with Retry-After (the page shows the form error)."""
    from django.contrib import admin

    response = admin.site.login(request, extra_context)
    wait = getattr(request, "login_retry_after", None)
    if wait is not None:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


# --- response headers ---------------------------------------------------------------------

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)


@lru_cache(maxsize=1)
def admin_script_hashes() -> tuple[str, ...]:
    """CSP hashes of the static inline scripts in our admin templates.

    A script whose text contains no template syntax is the same bytes on every page, so
    its hash allows exactly that script and nothing an injection could add. Templates
    should prefer `<script nonce="{{ request.csp_nonce }}">`; this keeps static inline
    scripts working meanwhile. A script with `{{`/`{%` inside is not hashed and needs
    the nonce.
    """
    hashes: set[str] = set()
    for folder in settings.CSP_TEMPLATE_DIRS:
        for path in sorted(Path(folder).rglob("*.html")):
            for match in _INLINE_SCRIPT.finditer(path.read_text(encoding="utf-8")):
                attrs, body = match.group("attrs"), match.group("body")
                if "src=" in attrs or "{{" in body or "{%" in body or not body.strip():
                    continue
                digest = hashlib.sha256(body.encode()).digest()
                hashes.add("'sha256-" + base64.b64encode(digest).decode() + "'")
    return tuple(sorted(hashes))


def admin_policy(nonce: str) -> str:
    scripts = " ".join(["'self'", f"'nonce-{nonce}'", *admin_script_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # Admin templates set widths with style attributes; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """Headers no response may go without (issue #12 §5).

    - API and health responses: `Cache-Control: no-store` (account data must not sit in a
      proxy or browser cache), and JSON gets a CSP that allows nothing at all.
    - Admin pages: a Content-Security-Policy with a per-request nonce
      (`request.csp_nonce`) for scripts; no 'unsafe-inline' for scripts.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        path = request.path
        if path.startswith(("/v1/", "/healthz")):
            response["Cache-Control"] = "no-store"
            if response.get("Content-Type", "").startswith("application/json"):
                response.setdefault("Content-Security-Policy", API_POLICY)
        elif path.startswith("/admin/"):
            response.setdefault("Content-Security-Policy", admin_policy(nonce))
        return response
