"""A cache shared by every worker through Redis, that keeps serving from local memory
while Redis is down (issue #17: run counts).

What goes in (run counts keyed by the run's `counts_version`) can always be recomputed
and never goes stale under its key, so losing Redis costs only recomputation: a Redis
outage must never become a 500. On a connection or timeout error the call is answered
by a per-process LocMemCache instead, and Redis is left alone for `RETRY_AFTER` seconds
(no connect attempt per request while it is down); after that the next call tries it
again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Seconds Redis is skipped after a failure.
RETRY_AFTER = 30.0
# Socket timeouts (seconds) unless OPTIONS say otherwise: a page waits this long at most
# on a Redis that accepts connections but does not answer.
DEFAULT_TIMEOUTS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}


class RedisWithLocalFallback(BaseCache):
    """Django's RedisCache, answered from local memory while Redis fails."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = {**DEFAULT_TIMEOUTS, **params.get("OPTIONS", {})}
        self._redis = RedisCache(server, {**params, "OPTIONS": options})
        self._local = LocMemCache(f"fallback:{server}", {**params, "OPTIONS": {}})
        self._down_until = 0.0

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return getattr(self._redis, name)(*args, **kwargs)
            except (RedisError, OSError) as exc:
                # Connection refused, reset or timed out, or Redis refusing work (loading,
                # read-only): answer locally.
                self._down_until = time.monotonic() + RETRY_AFTER
                logger.warning(
                    "cache: Redis unavailable (%s: %s); local memory for %.0f s",
                    type(exc).__name__,
                    exc,
                    RETRY_AFTER,
                )
        method: Callable[..., Any] = getattr(self._local, name)
        return method(*args, **kwargs)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._call("add", key, value, timeout, version)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._call("get", key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        self._call("set", key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._call("touch", key, timeout, version)

    def delete(self, key: Any, version: Any = None) -> Any:
        return self._call("delete", key, version)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._call("get_many", keys, version)

    def set_many(self, data: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._call("set_many", data, timeout, version)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._call("delete_many", keys, version)

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._call("has_key", key, version)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._call("incr", key, delta, version)

    def clear(self) -> None:
        self._local.clear()
        self._call("clear")
