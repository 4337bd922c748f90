"""The /ws/readings frame pipeline: always reading, replies in frame order, bounded."""

from __future__ import annotations

import asyncio

from app.services.frames import FramePipeline, Refusal


class Gated:
    """A pipeline of at most 2 waiting frames whose handler waits for :attr:`release` (as a
    frame waiting for room in the scoring queue) and refuses a frame ``"busy"`` (as the
    scoring queue being full at it) for 0.2 s; :attr:`sent` the replies, :attr:`handled`
    the frames taken, in order."""

    def __init__(self, shed_s: float, again: bool = False) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.handled: list[str] = []
        self.pipe = FramePipeline(
            receive=self.incoming.get,
            send=lambda text: asyncio.sleep(0, self.sent.append(text)),
            handle=self.handle,
            shed=lambda: Refusal("shed", shed_s),
            again=(lambda left: Refusal(f"again:{left > 0}", left)) if again else None,
            max_frames=2,
        )

    async def handle(self, raw: str | bytes) -> str | Refusal:
        await self.release.wait()
        if raw == "busy":
            return Refusal("overloaded", 0.2)
        self.handled.append(str(raw))
        return f"ok:{raw}"


async def test_a_slow_handler_does_not_stop_reading_and_replies_keep_frame_order() -> None:
    g = Gated(shed_s=0.02)
    incoming, sent, release, handled, pipe = g.incoming, g.sent, g.release, g.handled, g.pipe
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

    pipe = FramePipeline(
        receive=incoming.get, send=send, handle=handle, shed=lambda: Refusal("shed", 1.0)
    )
    task = asyncio.create_task(pipe.run())
    incoming.put_nowait("a")
    incoming.put_nowait("b")
    await started.wait()
    incoming.put_nowait(None)
    await asyncio.wait_for(task, 2)
    assert finished == ["a"]  # "a" completed (never half-ingested); "b" never started


async def test_frames_after_a_refused_one_are_refused_until_it_can_be_sent_again() -> None:
    """200 frames sent at once: 65-117 shed, 118 taken once the handler had made room,
    119-199 shed; sent again as told, 65-117 stood behind 118's readings and were refused
    as out of order (README newcomer of 9 Dec: 72 of 600 readings lost). Every frame that
    arrives after a refused one and before its ``retry_after_s`` has passed is refused
    now, whether it waits already or comes when there is room again, and so is every
    frame after one that ``handle`` refused; frames sent again after that are taken in
    order."""
    g = Gated(shed_s=0.2, again=True)
    incoming, sent, release, handled, pipe = g.incoming, g.sent, g.release, g.handled, g.pipe
    task = asyncio.create_task(pipe.run())
    for i in range(6):
        incoming.put_nowait(str(i))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.sleep(0.02)
    incoming.put_nowait("6")  # there is room now, but frame 3 was refused 0.07 s ago
    await asyncio.sleep(0.02)
    k = sent.index("shed")  # the first frame beyond the 2 waiting and the one in hand
    assert 2 <= k <= 3 and sent[:k] == [f"ok:{i}" for i in range(k)], sent
    assert sent[k + 1 :] == ["again:True"] * (6 - k), sent
    await asyncio.sleep(0.25)
    for i in range(k, 7):  # sent again, in order, after the wait, one reply at a time
        incoming.put_nowait(str(i))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert handled == [str(i) for i in range(7)]
    # a frame that the handler refuses refuses the frames queued behind it too
    release.clear()
    for raw in ("busy", "7", "8"):
        incoming.put_nowait(raw)
    await asyncio.sleep(0.02)
    release.set()
    await asyncio.sleep(0.05)
    assert sent[-3] == "overloaded" and set(sent[-2:]) <= {"again:True", "shed"}, sent
    assert handled[-1] == "6"
    await asyncio.sleep(0.25)
    for raw in ("7", "8"):
        incoming.put_nowait(raw)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert handled[-3:] == ["6", "7", "8"]
    incoming.put_nowait(None)
    await asyncio.wait_for(task, 1)
