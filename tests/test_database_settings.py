"""PostgreSQL only: a clear word on a missing or wrong database URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    # SQLite, spelled as a user would type it (the scheme is case-insensitive).
    "url",
    ["SQLite:///var/demo.db", "mysql://user@localhost/recon", "not a url"],
)
def test_a_database_url_that_is_not_postgresql_is_refused(url):
    from config.settings.base import postgresql_database

    with pytest.raises(ImproperlyConfigured, match=r"PostgreSQL only|not a database URL"):
        postgresql_database(url)


def test_a_postgresql_url_is_accepted_with_a_socket_directory_as_host():
    from config.settings.base import postgresql_database

    database = postgresql_database("postgres://postgres@%2Fwork%2Frepo%2Fvar%2Fpostgres:5432/recon")

    assert database["ENGINE"] == "config.postgresql"  # Django's, with a bounded health check
    assert database["HOST"] == "/work/repo/var/postgres"
    assert database["NAME"] == "recon"


@pytest.mark.slow  # a fresh interpreter per case
@pytest.mark.parametrize("module", ["config.settings.test", "config.settings.production"])
def test_settings_without_database_url_refuse_to_load(module):
    env = {**os.environ, "DATABASE_URL": "", "SECRET_KEY": "x"}
    result = subprocess.run(  # noqa: S603 -- our own interpreter importing our settings
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "ImproperlyConfigured: DATABASE_URL is" in result.stderr


@pytest.mark.slow  # a fresh interpreter
def test_local_settings_without_database_url_use_the_embedded_server():
    env = {**os.environ, "DATABASE_URL": ""}
    code = "import config.settings.local as s; print(s.DATABASES['default']['HOST'])"
    result = subprocess.run(  # noqa: S603 -- our own interpreter importing our settings
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    from config.embedded_db import DATA_DIR, socket_dir

    assert result.stdout.strip() == str(socket_dir(DATA_DIR))
