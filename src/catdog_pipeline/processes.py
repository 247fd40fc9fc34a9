"""Whether a process still exists: for clearing up after a stage that was killed."""

from __future__ import annotations

import os
import socket


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (a zombie still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def host_name() -> str:
    """This machine's name, recorded beside a pid: a pid means nothing on another host."""
    return socket.gethostname()
