"""Lease owners for long work done by Celery tasks (pure: no Django import).

A task that works on a row for a long time writes an owner string into it with an expiry and renews it as it
goes. Another task may take the row over when the lease expired, or at once when the owner is a process of
this host that is gone (a worker killed with SIGKILL) or a finished task of this very process.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

__all__ = ["ActiveSet", "new_owner", "owner_dead"]


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ActiveSet:
    """The keys this process is working on now, so that a lease of ours whose task ended is seen as free."""

    def __init__(self) -> None:
        self._keys: set = set()
        self._lock = threading.Lock()

    def add(self, key) -> None:
        with self._lock:
            self._keys.add(key)

    def discard(self, key) -> None:
        with self._lock:
            self._keys.discard(key)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._keys


def owner_dead(owner: str, key, active: ActiveSet) -> bool:
    """True when the lease holder is a process of this host that is gone, or a finished task of ours."""
    try:
        host, pid, _token = owner.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid_n == os.getpid():
        return key not in active
    import psutil

    try:
        return psutil.Process(pid_n).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
