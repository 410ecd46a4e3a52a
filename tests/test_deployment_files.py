"""docker-compose.yml is read by users, never run here (no Docker engine): check it parses and
wires the four services the way the README says."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_names_postgres_redis_web_and_worker():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker"} <= set(services)
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}
    assert "migrate" in services["web"]["command"]
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][:3] == ["celery", "-A", "config"]


def test_compose_runs_postgresql_with_the_settings_of_the_embedded_server():
    from config.embedded_db import SERVER_SETTINGS

    postgres = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres"]
    command = postgres["command"]
    assert command[0] == "postgres"
    assert command[1::2] == ["-c"] * len(SERVER_SETTINGS)
    settings = dict(option.split("=", 1) for option in command[2::2])
    assert settings == SERVER_SETTINGS
    assert postgres["image"] == "postgres:18"
    assert any(volume.endswith(":/var/lib/postgresql") for volume in postgres["volumes"])


def test_the_dockerfile_installs_from_the_lockfile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --locked" in dockerfile
    assert "collectstatic" in dockerfile


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
