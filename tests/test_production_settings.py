"""Deployment (issue #12 §5): check --deploy is clean, API responses are never cached, the
admin sends a Content-Security-Policy without 'unsafe-inline' for scripts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x7" * 30 + "-a-long-random-production-secret",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("alice", "/v1/ledgers", 200),
        (None, "/v1/ledgers", 401),
        ("alice", "/v1/nowhere", 404),
        (None, "/healthz", 200),
    ],
)
def test_api_responses_carry_cache_control_no_store(api_client_for, cast, who, path, status):
    response = api_client_for(who).get(path)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


def test_api_json_gets_a_csp_that_allows_nothing(api_client_for, cast):
    response = api_client_for("alice").get("/v1/ledgers")
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


def test_the_token_response_is_not_cacheable(api_client_for, cast):
    response = api_client_for(None).post(
        "/v1/auth/token", {"username": "bob", "password": "pw-bob"}, format="json"
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_admin_sends_a_csp_with_a_fresh_nonce_and_no_unsafe_inline_scripts(client):
    first = client.get("/admin/login/")
    second = client.get("/admin/login/")
    policy = first.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    nonce = re.search(r"'nonce-([^']+)'", script_src).group(1)
    assert nonce not in second.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


def test_static_inline_scripts_of_our_admin_templates_are_hashed():
    from config.security import admin_script_hashes

    review = (ROOT / "templates/admin/reconciliation/match/review.html").read_text()
    if "<script>" in review:
        assert admin_script_hashes(), "the review screen's keyboard script must be allowed"
