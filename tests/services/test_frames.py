"""The /ws/readings frame pipeline: always reading, replies in frame order, bounded."""

from __future__ import annotations

import asyncio

from app.services.frames import FramePipeline


async def test_a_slow_handler_does_not_stop_reading_and_replies_keep_frame_order() -> None:
    incoming: asyncio.Queue[str | None] = asyncio.Queue()
    sent: list[str] = []
    release = asyncio.Event()
    handled: list[str] = []

    async def handle(raw: str | bytes) -> str:
        await release.wait()  # as a frame waiting for room in the scoring queue
        handled.append(str(raw))
        return f"ok:{raw}"

    pipe = FramePipeline(
        receive=incoming.get,
        send=lambda text: asyncio.sleep(0, sent.append(text)),
        handle=handle,
        shed=lambda: "shed",
        max_frames=2,
    )
    task = asyncio.create_task(pipe.run())
    for i in range(6):
        incoming.put_nowait(str(i))
    await asyncio.sleep(0.05)
    assert incoming.empty()  # all read while the first frame is still being handled
    assert sent == []  # frame 0's reply must go first
    release.set()
    await asyncio.sleep(0.05)
    # at most 2 waited (max_frames=2) plus the one in hand; the rest are shed, in place
    assert len(sent) == 6 and sent[:2] == ["ok:0", "ok:1"]
    assert all(r in (f"ok:{i}", "shed") for i, r in enumerate(sent))
    assert 3 <= sent.count("shed") <= 4
    incoming.put_nowait("6")
    await asyncio.sleep(0.05)
    assert sent[-1] == "ok:6"
    incoming.put_nowait(None)  # the client goes
    await asyncio.wait_for(task, 1)
    assert handled == [r.removeprefix("ok:") for r in sent if r != "shed"]


async def test_the_frame_in_hand_is_finished_when_the_client_goes() -> None:
    incoming: asyncio.Queue[str | None] = asyncio.Queue()
    started, finished = asyncio.Event(), []

    async def handle(raw: str | bytes) -> str:
        started.set()
        await asyncio.sleep(0.1)
        finished.append(raw)
        return "ok"

    async def send(_: str) -> None:
        raise ConnectionError("client gone")

    pipe = FramePipeline(receive=incoming.get, send=send, handle=handle, shed=lambda: "shed")
    task = asyncio.create_task(pipe.run())
    incoming.put_nowait("a")
    incoming.put_nowait("b")
    await started.wait()
    incoming.put_nowait(None)
    await asyncio.wait_for(task, 2)
    assert finished == ["a"]  # "a" completed (never half-ingested); "b" never started
