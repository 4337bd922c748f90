"""The takeover replay's collector: which delivered messages it keeps and when it stops.

The replay itself runs against a real nats-server in ``tests/e2e/test_cluster.py``; this
checks the rules on sequences the server would not easily produce on demand (a skipped
delivery, messages after the floor, an ack floor on another partition's subject).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from app.cluster.node import REPLAY_CHUNK, _Collector, _share


def msg(consumer_seq: int, stream_seq: int, pending: int) -> SimpleNamespace:
    seq = SimpleNamespace(consumer=consumer_seq, stream=stream_seq)
    md = SimpleNamespace(sequence=seq, num_pending=pending)
    return SimpleNamespace(metadata=md, data=f"[{stream_seq}]".encode())


def feed(c: _Collector, msgs: list[SimpleNamespace]) -> None:
    async def go() -> None:
        for m in msgs:
            await c.on_msg(m)

    asyncio.run(go())


def test_keeps_messages_up_to_the_floor_and_stops_there() -> None:
    c = _Collector(upto=30)
    feed(c, [msg(1, 10, 9), msg(2, 20, 8), msg(3, 30, 7), msg(4, 40, 6)])
    assert c.done and not c.error
    assert c.payloads == [b"[10]", b"[20]", b"[30]"]
    assert c.wake.is_set()


def test_stops_at_the_first_message_past_a_floor_it_never_sees() -> None:
    # the floor may be the start sequence - 1 of another partition's message
    c = _Collector(upto=25)
    feed(c, [msg(1, 10, 5), msg(2, 20, 4), msg(3, 31, 3), msg(4, 40, 2)])
    assert c.done and c.payloads == [b"[10]", b"[20]"]


def test_stops_when_nothing_is_pending() -> None:
    c = _Collector(upto=100)
    feed(c, [msg(1, 10, 1), msg(2, 20, 0)])
    assert c.done and c.payloads == [b"[10]", b"[20]"]


def test_a_skipped_delivery_is_an_error() -> None:
    c = _Collector(upto=100)
    feed(c, [msg(1, 10, 5), msg(3, 30, 3), msg(4, 40, 2)])
    assert c.error == "skipped deliveries 2..2" and not c.done
    assert c.payloads == [b"[10]"] and c.wake.is_set()


def test_wakes_the_replay_every_chunk() -> None:
    c = _Collector(upto=10**9)
    feed(c, [msg(i, i, 10**6) for i in range(1, REPLAY_CHUNK)])
    assert not c.wake.is_set()
    feed(c, [msg(REPLAY_CHUNK, REPLAY_CHUNK, 10**6)])
    assert c.wake.is_set() and not c.done and len(c.payloads) == REPLAY_CHUNK


def test_orphans_go_to_the_live_replicas_with_room_each_once() -> None:
    # 16 partitions; r3 died holding 6; r1 holds 4, r2 holds 6: the share after the
    # leases expire is 8 each, so r1 has room for 4 and r2 for 2
    owners = {p: "r1" for p in range(4)} | {p: "r2" for p in range(4, 10)}
    owners |= {p: "r3" for p in range(10, 16)}
    out = _share(list(range(10, 16)), owners, ["r1", "r2"], 16)
    assert sorted(out["r1"] + out["r2"]) == list(range(10, 16))
    assert len(out["r1"]) == 4 and len(out["r2"]) == 2
    # every replica computes the same split from the same view
    assert _share(list(range(10, 16)), dict(reversed(owners.items())), ["r1", "r2"], 16) == out


def test_orphans_beyond_every_share_are_left_to_the_balancing() -> None:
    owners = {0: "r1", 1: "r1", 2: "r9", 3: "r9"}
    assert _share([2, 3], owners, ["r1"], 2) == {"r1": []}  # r1 already holds its 2
