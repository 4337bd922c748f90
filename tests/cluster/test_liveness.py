"""The pre-warm's liveness probe on a real nats-server: a replica whose lease connection is
up answers, one that never joined or whose connection closed gets "no responders" (the
only answer that starts a pre-warm), and nothing it answers touches a lease."""

from __future__ import annotations

from typing import Any, cast

import pytest

from app.cluster.bus import ALIVE_PREFIX, Bus
from app.cluster.node import ClusterNode, _LeaseThread
from bench.cluster import Nats, nats_binary
from tests.conftest import missing_tool


@pytest.fixture
def nats_url() -> Any:
    if nats_binary() is None:
        missing_tool("the liveness test needs nats-server (apt-get install -y nats-server)")
    server = Nats.start()
    try:
        yield server.url
    finally:
        server.stop()


async def test_probe_tells_a_closed_connection_from_a_live_one(nats_url: str) -> None:
    bus = Bus(nats_url, partitions=4, lease_ttl_s=8.0, stream_max_age_s=3600.0)
    await bus.connect()
    node = ClusterNode(cast(Any, None), bus, replica_id="r0", lease_ttl_s=8.0, replay_s=90.0)
    r1 = _LeaseThread()
    try:
        await r1.open(nats_url, 8.0, ALIVE_PREFIX + "r1")
        assert await node._probe("r1") is True
        assert await node._probe("never-joined") is False
        await r1.close()  # as the kernel closes a SIGKILLed process's socket
        assert await node._probe("r1") is False
    finally:
        await r1.close()  # a second close does nothing
        await node._leases.close()  # never started: only its loop to close
        await bus.close()
