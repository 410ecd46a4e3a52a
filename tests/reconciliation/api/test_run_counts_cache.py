"""Run counts shared by every worker through Redis, and served from local memory while
Redis is down (issue #17). Both against real servers: the Redis the suite's worker tests
use, and a port that was just closed (connection refused: a real outage, not a mock).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from config.cache import RedisWithLocalFallback

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PREFIX = "recon-test-counts"


def _fallback_cache(location: str) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "run_counts": {
            "BACKEND": "config.cache.RedisWithLocalFallback",
            "LOCATION": location,
            "KEY_PREFIX": PREFIX,
        },
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def _counting_queries(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if "GROUP BY" in q["sql"])


@pytest.fixture
def redis_url() -> str:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


def test_counts_computed_by_one_worker_are_read_by_another(
    api_client_for: Any, world: dict[str, Any], redis_url: str
) -> None:
    run = world["run"]
    run.refresh_from_db()  # the key carries the current counts_version
    url = f"{RUNS}/{run.pk}"
    with override_settings(CACHES=_fallback_cache(redis_url)):
        counts = api_client_for("rita").get(url).json()["counts"]
        # Another worker: its own connection to the same Redis, nothing in its memory.
        other = RedisWithLocalFallback(redis_url, {"KEY_PREFIX": PREFIX})
        stored = other.get(f"run-counts:{run.pk}:{run.counts_version}")
        assert stored is not None
        assert stored["items_unmatched"] == counts["items"]["unmatched"]
        assert stored["matches_suggested"] == counts["matches"]["suggested"]
        # and a second view anywhere is served from it, without counting again
        with CaptureQueriesContext(connection) as captured:
            assert api_client_for("rita").get(url).json()["counts"] == counts
        assert _counting_queries(captured) == 0
        other.delete(f"run-counts:{run.pk}:{run.counts_version}")


def test_a_redis_outage_serves_counts_from_local_memory_never_a_500(
    api_client_for: Any, world: dict[str, Any]
) -> None:
    url = f"{RUNS}/{world['run'].pk}"
    expected = api_client_for("rita").get(url).json()["counts"]  # the local-memory setup
    with override_settings(CACHES=_fallback_cache(f"redis://127.0.0.1:{_closed_port()}/0")):
        client = api_client_for("rita")
        first = client.get(url)
        assert first.status_code == 200
        assert first.json()["counts"] == expected
        with CaptureQueriesContext(connection) as captured:
            again = client.get(url)
        assert again.status_code == 200
        assert again.json()["counts"] == expected
        assert _counting_queries(captured) == 0  # kept in local memory meanwhile
        listed = client.get(RUNS, {"limit": 500})
        assert listed.status_code == 200
