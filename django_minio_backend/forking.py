"""Module locks a forked child gets afresh.

A lock another thread of the parent held at ``fork()`` (a save holding a name
lock, a capability probe, the standard library's ``strptime`` cache) is held in
the child for good: the child has no thread to release it. Locks registered here
are replaced in the child, which has one thread, before it runs any of our code.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import MutableMapping
from typing import Any


def renew_after_fork(namespace: MutableMapping[str, Any], *names: str) -> None:
    """In a forked child, replace the locks (or tuples of locks) ``namespace[name]`` with new ones."""

    def renew() -> None:
        for name in names:
            namespace[name] = _fresh(namespace[name])

    os.register_at_fork(after_in_child=renew)


def _fresh(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_fresh(item) for item in value)
    if isinstance(value, type(threading.RLock())):
        return threading.RLock()
    return threading.Lock()


def _renew_strptime_lock() -> None:
    # minio parses Last-Modified with strptime (every stat): its cache lock, taken by a
    # parent thread at the fork, would block the child's first exists() for good.
    module = sys.modules.get("_strptime")
    if module is not None:
        module._cache_lock = threading.Lock()  # type: ignore[attr-defined]


os.register_at_fork(after_in_child=_renew_strptime_lock)
