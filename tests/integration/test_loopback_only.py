"""`make test` runs inside a network namespace whose only interface is `lo` (infra/loopback-only):
whatever the services or tests try, nothing can leave loopback. This checks the namespace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    os.environ.get("FRESHINDEX_LOOPBACK_ONLY") != "1",
    reason="not run through infra/loopback-only (make test / make integration do)",
)
def test_only_the_loopback_interface_exists_and_there_is_no_route_out() -> None:
    # the kernel's view of this process's namespace (/sys/class/net would show the host's)
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
    routes = Path("/proc/net/route").read_text().splitlines()[1:]  # IPv4 table, header dropped
    assert routes == [], f"routes in a loopback-only namespace: {routes}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # loopback itself works
