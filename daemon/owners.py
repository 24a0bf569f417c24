"""Who holds a claim in the database (a parse, a resolution): "<host>:<pid>", and whether
that process is known to be gone."""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_gone(owner: str) -> bool:
    """An owner of this host whose process has exited (its pid may be reused: then the caller
    waits for the lease to run out, which is merely slower)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
