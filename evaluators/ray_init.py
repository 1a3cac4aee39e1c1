"""Connect to the Ray cluster named by ``RAY_ADDRESS`` — or start a local one — failing fast.

``ray.init(address="host:port")`` retries an unreachable GCS for minutes before it gives up;
a mistyped ``RAY_ADDRESS`` then looks like a hang. :func:`init_ray` first opens a TCP
connection to the address (a few seconds at most) and raises :class:`RayUnreachableError`
(one line, CLI exit 2) when nothing answers. Shared by the orchestrator and the evaluators.
"""
from __future__ import annotations

import os
import socket
from typing import Any

from evaluators.errors import EvaluatorError


class RayUnreachableError(EvaluatorError):
    """``RAY_ADDRESS`` names a host:port where no Ray head answers."""


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; None for other forms."""
    addr = address.strip()
    if addr in ("", "auto", "local"):
        return None
    if "://" in addr:
        scheme, addr = addr.split("://", 1)
        if scheme != "ray":
            return None
    host, sep, port = addr.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`RayUnreachableError` if ``address`` is a host:port nobody listens on."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        raise RayUnreachableError(
            f"RAY_ADDRESS={address}: no Ray head answers at {hp[0]}:{hp[1]} ({reason}); "
            "unset RAY_ADDRESS to start a local Ray, or give the head's GCS address "
            "(ray start --head prints it)") from None


def init_ray(**kwargs: Any) -> bool:
    """Connect to ``RAY_ADDRESS`` (checked first) or start a local Ray; True if we initialised.

    Returns False when Ray is already initialised in this process (nothing is done).
    ``kwargs`` go to ``ray.init`` (``include_dashboard`` is dropped when connecting).
    """
    import ray

    if ray.is_initialized():
        return False
    addr = os.environ.get("RAY_ADDRESS", "").strip()
    if addr:
        check_ray_address(addr)
        kwargs.pop("include_dashboard", None)
        ray.init(address=addr, **kwargs)
    else:
        ray.init(address="local", **kwargs)
    return True
