"""RAY_ADDRESS handling: which forms are probed, and a closed port fails in one line, fast."""
from __future__ import annotations

import socket
import time

import pytest

from evaluators.ray_init import RayUnreachableError, _host_port, check_ray_address


@pytest.mark.parametrize("addr, expected", [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)),
    ("ray://head.svc:10001", ("head.svc", 10001)),
    ("[::1]:6379", ("::1", 6379)),
    ("auto", None), ("local", None), ("http://head:8265", None), ("head", None),
])
def test_which_addresses_are_probed(addr, expected):
    assert _host_port(addr) == expected


def test_closed_port_raises_one_line_quickly():
    with socket.socket() as s:          # a port that was free a moment ago and is closed now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(RayUnreachableError) as e:
        check_ray_address(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 10
    assert e.value.exit_code == 2 and "\n" not in str(e.value) and f":{port}" in str(e.value)


def test_listening_port_passes():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        check_ray_address(f"127.0.0.1:{s.getsockname()[1]}")
