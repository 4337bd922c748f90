"""MQTT load: K devices x R readings/s published at QoS 1 to a broker a running service reads.

    GASLEAK_API_KEY=... python -m bench.mqtt_load --broker mqtt://127.0.0.1:1883 \\
        --username gw --password pw --base http://127.0.0.1:8080 --devices 1000 --seconds 10

The gateway user needs write access to ``gasleak/readings/+`` (deploy/mosquitto/acl has a
pattern per device; give a load-test user ``topic write gasleak/readings/+``). Each reading
is one message (``device_id`` left out: the topic names it); publishes are pipelined up to
``--inflight`` unacknowledged. Prints one JSON line: offered and published readings/s, the
service's accepted readings/s over the run (``/api/status`` deltas, after the service has
drained), and its MQTT counters (duplicates, bad messages). ``GASLEAK_API_KEY`` in the
environment: an API key of the service that may read ``/api/status``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import httpx


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    """GET /api/status."""
    body: dict[str, Any] = (await http.get("/api/status")).json()
    return body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Publish for ``args.seconds`` at the paced rate, then wait for the service to drain."""
    u = urlsplit(args.broker)
    # a key that may read /api/status, from the environment (never on the command line)
    auth = {"Authorization": f"Bearer {os.environ['GASLEAK_API_KEY']}"}
    ids = [f"mq-{i:06d}" for i in range(args.devices)]
    sent = 0
    room = asyncio.Semaphore(args.inflight)
    async with (
        httpx.AsyncClient(base_url=args.base, timeout=30, headers=auth) as http,
        aiomqtt.Client(
            u.hostname or "127.0.0.1",
            u.port or 1883,
            username=args.username,
            password=args.password,
            max_inflight_messages=args.inflight,
        ) as client,
    ):
        client.pending_calls_threshold = args.inflight + 1  # no warning per pipelined call
        s0 = await status(http)
        t0 = time.time()
        tasks: set[asyncio.Task[None]] = set()

        async def one(device: str, ts: float) -> None:
            body = {"ts": round(ts, 3), "gas_ppm": 420.0, "temperature_c": 21.0}
            body["humidity_pct"] = 45.0
            try:
                await client.publish(f"gasleak/readings/{device}", json.dumps(body), qos=1)
            finally:
                room.release()

        k = 0
        while (now := time.time()) - t0 < args.seconds:
            due = int((now - t0) * args.rate * args.devices)
            while k < due:
                await room.acquire()
                ts = t0 + k / (args.devices * args.rate)
                task = asyncio.create_task(one(ids[k % args.devices], ts))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        sent = k
        published_s = time.time() - t0
        deadline = time.monotonic() + 120
        while True:  # the service has taken all it will take
            s1 = await status(http)
            if s1["mqtt"]["messages"] - s0["mqtt"]["messages"] >= sent:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        took = time.time() - t0
    return {
        "offered_readings_per_s": args.devices * args.rate,
        "published": sent,
        "published_per_s": round(sent / published_s, 1),
        "accepted": s1["readings_accepted"] - s0["readings_accepted"],
        "accepted_per_s": round((s1["readings_accepted"] - s0["readings_accepted"]) / took, 1),
        "drain_s": round(took - published_s, 2),
        "duplicates": s1["mqtt"]["duplicates"] - s0["mqtt"]["duplicates"],
        "bad_messages": s1["mqtt"]["bad_messages"] - s0["mqtt"]["bad_messages"],
    }


def main() -> None:
    """Parse the options, run, print the JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.mqtt_load", description=__doc__)
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--base", default="http://127.0.0.1:8080", help="the service, for status")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=1.0, help="readings/s per device")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--inflight", type=int, default=100, help="unacknowledged publishes")
    print(json.dumps(asyncio.run(run(p.parse_args()))))


if __name__ == "__main__":
    main()
