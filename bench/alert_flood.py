"""``python -m bench.alert_flood URL KEY``: does an alarm flood reach every fast subscriber?

Connects ``--subscribers`` (2) ``/ws/alerts`` clients that read as fast as they can, then
sends one ``POST /api/readings`` of ``--devices`` (2,500) devices, each one reading at
13,000 ppm (over the high set point: one threshold alarm per device), and reads until no
event came for ``--idle-s`` (5) seconds after the first. Prints one JSON line: the events
stored during the run (``/api/status`` ``last_event_id``), then per subscriber the events
received, whether their ids were strictly consecutive (no gap, no duplicate), how it ended
(``idle``: still open; ``closed <code> <reason>``) and when its last event came
(``last_event_s``, from the POST's start). Before 2 Dec each subscriber was closed with
1013 after ``subscriber_queue_max`` (1,000) events of such a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
import websockets

FIRST_EVENT_S = 120.0  # the wait for the first event (a big POST registers its devices first)


async def subscriber(url: str, key: str, idle_s: float, ready: asyncio.Event) -> dict[str, Any]:
    """Read events until ``idle_s`` seconds pass without one (:data:`FIRST_EVENT_S` for the
    first), or the socket closes: how
    many came, whether their ids were consecutive, how it ended, and when the last one came
    (``time.perf_counter``, s)."""
    got: list[int] = []
    ending, t_last = "idle", 0.0
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        json.loads(await ws.recv())  # subscribed
        ready.set()
        try:
            while True:
                wait = idle_s if got else FIRST_EVENT_S
                frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
                if "event_id" in frame:
                    got.append(frame["event_id"])
                    t_last = time.perf_counter()
        except TimeoutError:
            pass
        except websockets.ConnectionClosed as e:
            ending = f"closed {e.rcvd and e.rcvd.code} {e.rcvd and e.rcvd.reason}"
    in_order = all(b == a + 1 for a, b in zip(got, got[1:], strict=False))
    return {"received": len(got), "consecutive": in_order, "ending": ending, "t_last": t_last}


async def run(url: str, key: str, devices: int, subscribers: int, idle_s: float) -> dict[str, Any]:
    """The flood and the subscribers; the figures."""
    ws_url = url.replace("http", "ws", 1) + "/ws/alerts"
    prefix = f"flood{int(time.time()) % 100_000}-"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300
    ) as http:
        first = (await http.get("/api/status")).json()["last_event_id"]
        ready = [asyncio.Event() for _ in range(subscribers)]
        subs = [asyncio.create_task(subscriber(ws_url, key, idle_s, r)) for r in ready]
        for ev in ready:
            await ev.wait()
        body = [
            {"device_id": f"{prefix}{i}", "ts": time.time() - 60, "gas_ppm": 13_000.0}
            | {"temperature_c": 22.0, "humidity_pct": 45.0}
            for i in range(devices)
        ]
        start = time.perf_counter()
        reply = await http.post("/api/readings", json=body)
        results = await asyncio.gather(*subs)
        for res in results:  # seconds from the POST's start to the subscriber's last event
            res["last_event_s"] = round(max(0.0, res.pop("t_last") - start), 2)
        last = (await http.get("/api/status")).json()["last_event_id"]
    return {
        "accepted": reply.json().get("accepted"),
        "events_stored": last - first,
        "subscribers": results,
    }


def main() -> None:
    """Parse the arguments, run the flood, print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("--devices", type=int, default=2_500)
    p.add_argument("--subscribers", type=int, default=2)
    p.add_argument("--idle-s", type=float, default=5.0)
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.url, a.key, a.devices, a.subscribers, a.idle_s))))


if __name__ == "__main__":
    main()
