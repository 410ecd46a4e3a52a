"""The README's "API in five calls" runs as written against a live server with the demo
data of `make run` (runserver on a free port, on the test database)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import subprocess_database_url

# The server process reads what this test committed, and the test reads what it wrote.
pytestmark = [pytest.mark.readme, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[1]
RUNS = "/v1/ledgers/reconciliation/runs"


def readme_block(heading: str) -> str:
    """The first ```bash block after `heading` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, f"no bash block under {heading!r}"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_demo_server(tmp_path: Path) -> Iterator[str]:
    """`make run` without Redis on the test database: local settings (its password
    hasher, not the tests' fast one), demo data, tasks in-process, runserver."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DATABASE_URL"] = subprocess_database_url()
    port = _free_port()
    manage = [sys.executable, "manage.py"]
    subprocess.run(  # noqa: S603 -- our own interpreter and manage.py
        [*manage, "run_demo", "--port", str(port), "--no-serve"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 -- our own interpreter and manage.py
        [*manage, "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"runserver did not come up:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_readme_api_in_five_calls_runs_against_a_fresh_demo(live_demo_server, tmp_path):
    from reconciliation.models import Discrepancy, Run

    # curl, reporting every response's method, status and URL on stderr.
    shim = tmp_path / "bin"
    shim.mkdir()
    real_curl = shutil.which("curl")
    assert real_curl, "curl is needed to run the README's snippet"
    (shim / "curl").write_text(
        "#!/bin/sh\n"
        f"exec {real_curl} --write-out '%{{stderr}}STATUS %{{method}} %{{response_code}} "
        '%{url_effective}\\n\' "$@"\n'
    )
    (shim / "curl").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "BASE": live_demo_server}

    bash = shutil.which("bash")
    assert bash
    result = subprocess.run(  # noqa: S603 -- bash running the README's own snippet
        [bash, "-euo", "pipefail", "-c", readme_block("## API in five calls")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    reported = [line for line in result.stderr.splitlines() if line.startswith("STATUS ")]
    calls = [
        (method, int(status), re.sub(r"[0-9a-f-]{36}", "{id}", url.removeprefix(live_demo_server)))
        for method, status, url in (line.split(" ", 3)[1:] for line in reported)
    ]
    assert calls[:6] == [
        ("POST", 200, "/v1/auth/token"),
        ("GET", 200, "/v1/ledgers"),
        ("GET", 200, "/v1/ledgers/accounts?ledger_id={id}"),
        ("POST", 201, "/v1/ledgers/{id}/entries"),
        ("POST", 201, RUNS),
        ("POST", 201, f"{RUNS}/{{id}}/sources/upload"),
    ]
    assert set(calls[6:-2]) == {("GET", 200, f"{RUNS}/{{id}}")}  # the wait loop
    assert calls[-2:] == [
        ("GET", 200, f"{RUNS}/{{id}}"),
        ("GET", 200, f"{RUNS}/{{id}}/discrepancies?status=open"),
    ]
    # What the reader should see: the December file matched against the GL entry, the two
    # bank lines without a GL counterpart left open.
    run = Run.objects.get(idempotency_key="2026-12-04")
    assert run.status == "completed"
    assert run.account_id is not None
    assert run.source_files.get().imported_count == 3
    assert sorted(
        Discrepancy.objects.filter(run=run, status="open").values_list("kind", flat=True)
    ) == ["missing_in_ledger", "missing_in_ledger"]
    assert '"status":"completed"' in result.stdout.replace(" ", "")
