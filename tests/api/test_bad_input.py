"""Every bad input is a 4xx naming the field (issue 11 item 3), in-process over ASGI.

The WebSocket and disconnect cases run against a real server: tests/e2e/test_bad_input_live.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets

from app.config import Settings
from app.errors import InvalidRequest, cursor_position
from app.schemas.readings import DEVICE_ID_PATTERN
from app.schemas.times import parse_rfc3339
from tests.conftest import SILENCE_END, auth_headers, reading, serve_in_loop

JSON = {"content-type": "application/json"}
BIG = "99999999999999999999999"  # beyond int64
HUGE_TS = "1" + "0" * 400  # an integer no float can hold (was OverflowError -> 500)


def _fields(r: httpx.Response) -> list[str]:
    return [d["field"] for d in r.json()["detail"]]


async def test_huge_integer_ts_is_rejected_and_the_batch_keeps_its_good_readings(
    client: httpx.AsyncClient,
) -> None:
    now = time.time()
    bad = f'{{"device_id":"a","ts":{HUGE_TS},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}'
    good = f'{{"device_id":"b","ts":{now},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}'
    r = await client.post("/api/readings", content=f"[{bad},{good}]", headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    [rej] = r.json()["rejected"]
    assert rej["index"] == 0 and rej["errors"][0]["field"] == "ts"
    assert "2000-01-01" in rej["errors"][0]["reason"]
    r = await client.post("/api/readings", content=bad, headers=JSON)
    assert r.status_code == 422 and _fields(r) == ["ts"]


@pytest.mark.parametrize(
    "ts,accepted",
    [
        ("2025-11-30T12:00:00Z", True),
        ("2025-11-30t12:00:00.123456789z", True),  # RFC 3339 5.6 NOTE: t and z allowed
        ("2025-11-30T13:30:00+01:30", True),
        ("2025-W48-1T12:00:00Z", False),  # ISO 8601 week date, not RFC 3339
        ("2025-11-30T12:00:00", False),  # no offset: would be server-local time
        ("2025-11-30 12:00:00Z", False),
        ("20251130T120000Z", False),
        ("2025-02-30T12:00:00Z", False),
        ("2025-11-30T12:00:00+0100", False),
        ("2025-11-30T12:00:00.1234567891Z", True),  # RFC 3339: any number of digits
        ("2016-12-31T23:59:60Z", True),  # RFC 3339 5.7: a leap second
        ("2016-12-30T23:59:60Z", False),  # second 60 outside the last minute of a month
        ("\u0662\u0660\u0662\u0665-11-30T12:00:00Z", False),  # Arabic-Indic digits
        ("\uff12\uff10\uff12\uff15-11-30T12:00:00Z", False),  # fullwidth digits
        ("2025-11-30T12:00:0\u0662Z", False),  # RFC 3339 DIGIT is ASCII 0-9 (RFC 5234)
    ],
)
async def test_reading_ts_follows_one_rfc3339_profile(
    client: httpx.AsyncClient, ts: str, accepted: bool
) -> None:
    body = {"device_id": "t", "ts": ts, "gas_ppm": 1, "temperature_c": 1, "humidity_pct": 1}
    r = await client.post("/api/readings", json=body)
    if accepted:
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    else:
        assert r.status_code == 422 and _fields(r) == ["ts"], r.text
        assert "RFC 3339" in r.json()["detail"][0]["reason"]


async def test_a_time_query_parameter_takes_ascii_digits_only(client: httpx.AsyncClient) -> None:
    """``from`` and ``to`` (and silences' times) follow the same profile: Python's \\d took
    Arabic-Indic and fullwidth digits (newcomer of 2 Dec)."""
    r = await client.get("/api/alerts", params={"from": "\uff12\uff10\uff12\uff15-11-30T12:00:00Z"})
    assert r.status_code == 422 and _fields(r) == ["from"], r.text
    assert "outside ASCII" in r.json()["detail"][0]["reason"]


def test_a_long_fraction_is_truncated_and_a_leap_second_is_the_minutes_last_microsecond() -> None:
    """RFC 3339 sets no limit to the fraction's digits and allows second 60 (section 5.7);
    both were refused (newcomer), the first without a cause."""
    assert parse_rfc3339("2026-11-30T10:00:00.1234567891Z") == datetime(
        2026, 11, 30, 10, 0, 0, 123456, UTC
    )
    leap = datetime(2016, 12, 31, 23, 59, 59, 999_999, UTC)
    for text in ("2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5Z", "2016-12-31T15:59:60-08:00"):
        assert parse_rfc3339(text) == leap, text
    for text, why in (
        ("2016-12-31T23:58:60Z", "leap second"),
        ("2016-12-31T23:59:61Z", "second 61 is out of range"),
        ("2026-11-30T10:00:00.Z", "fraction"),
        ("2026-11-30T10:00Z", "no seconds"),
        ("2026-11-30T10:00:00", "no UTC offset"),
        ("2026-11-30 10:00:00Z", "space"),
        ("2026-11-30T10:00:00+01", r"\+hh:mm, not \+hh"),
        ("2026-334T10:00:00Z", "ordinal"),
        ("hello", "does not start with a date"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_rfc3339(text)


LEAP_BATCH = [  # the leap second between the last reading of 2016 and the first of 2017
    reading("leap", datetime(2016, 12, 31, 23, 59, 59, 500_000, UTC).timestamp(), 420.0),
    {**reading("leap", 0, 421.0), "ts": "2016-12-31T23:59:60Z"},
    {**reading("leap", 0, 422.0), "ts": "2017-01-01T00:00:00.0000000001Z"},
]


async def test_a_leap_second_and_a_long_fraction_are_taken_in_time_order(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/readings", json=LEAP_BATCH)
    assert r.json() == {"accepted": 3, "rejected": [], "warnings": []}, r.text
    r = await client.post("/api/readings", json=LEAP_BATCH[1])  # before the newest: 00:00:00
    assert r.json()["rejected"][0]["errors"][0]["type"] == "out_of_order", r.text
    r = await client.post("/api/readings", json={**LEAP_BATCH[1], "ts": "2016-12-31T23:59:61Z"})
    assert r.status_code == 422 and _fields(r) == ["ts"], r.text
    assert "second 61 is out of range" in r.json()["detail"][0]["reason"]


async def test_ws_readings_take_a_leap_second_and_name_why_a_ts_is_refused(
    settings: Settings,
) -> None:
    """The WebSocket path takes the same stamps and gives the same reasons as REST."""
    async with (
        serve_in_loop(settings) as (base, _),
        websockets.connect(
            base.replace("http", "ws", 1) + "/ws/readings", additional_headers=auth_headers()
        ) as ws,
    ):
        await ws.send(json.dumps(LEAP_BATCH))
        assert json.loads(await ws.recv()) == {"accepted": 3, "rejected": [], "warnings": []}
        await ws.send(json.dumps([{**LEAP_BATCH[2], "ts": "2017-01-01T00:00:01+0100"}]))
        [err] = json.loads(await ws.recv())["rejected"][0]["errors"]
        assert err["field"] == "ts" and "+hh:mm, not +hhmm" in err["reason"], err


async def test_epoch_seconds_in_a_string_are_refused_saying_send_a_number(
    client: httpx.AsyncClient,
) -> None:
    """``"ts": "1764583200"`` was refused as "the basic format (no - and :) is not RFC
    3339" (newcomer of 1 Dec 11:00): the reason now says epoch seconds go as a JSON number;
    the same number as a number is taken."""
    now = int(time.time())
    for text in (str(now), f"{now}.5", f" {now} "):
        body = {"device_id": "e", "ts": text, "gas_ppm": 1, "temperature_c": 1, "humidity_pct": 1}
        r = await client.post("/api/readings", json=body)
        assert r.status_code == 422 and _fields(r) == ["ts"], r.text
        assert "JSON number" in r.json()["detail"][0]["reason"], r.text
    r = await client.post("/api/readings", json={**body, "ts": now})
    assert r.json()["accepted"] == 1, r.text


async def test_nan_ts_says_not_finite(client: httpx.AsyncClient) -> None:
    now = time.time()
    body = (
        f'[{{"device_id":"n","ts":NaN,"gas_ppm":1,"temperature_c":1,"humidity_pct":1}},'
        f'{{"device_id":"n2","ts":{now},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}]'
    )
    r = await client.post("/api/readings", content=body, headers=JSON)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    [err] = r.json()["rejected"][0]["errors"]
    assert err["field"] == "ts" and "finite" in err["reason"]


async def test_a_ts_beyond_a_double_is_not_called_not_json(client: httpx.AsyncClient) -> None:
    """``"ts": 1e400`` is a JSON number (RFC 8259's grammar has no limit) that overflows a
    double; the reason said "NaN and Infinity are not JSON" (README newcomer of 7 Dec)."""
    body = '{"device_id":"n","ts":1e400,"gas_ppm":1,"temperature_c":1,"humidity_pct":1}'
    r = await client.post("/api/readings", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "ts" and "1e400" in err["reason"], err
    assert "not JSON" not in err["reason"], err


async def test_duplicate_keys_are_refused_and_the_rest_of_the_batch_kept(
    client: httpx.AsyncClient,
) -> None:
    now = time.time()
    dup = f'{{"device_id":"d1","ts":{now},"gas_ppm":400,"gas_ppm":20000,"temperature_c":1,"humidity_pct":1}}'  # noqa: E501
    esc = f'{{"device_id":"d2","ts":{now},"gas_ppm":400,"gas\\u005fppm":20000,"temperature_c":1,"humidity_pct":1}}'  # noqa: E501
    two_ts = (
        f'{{"device_id":"d3","ts":{now},"ts":{now},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}'  # noqa: E501
    )
    no_ts = '{"device_id":"d4","gas_ppm":1,"temperature_c":1,"humidity_pct":1}'
    r = await client.post("/api/readings", content=f"[{dup},{esc},{two_ts},{no_ts}]", headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    rej = {x["index"]: x["errors"] for x in r.json()["rejected"]}
    assert rej[0][0]["field"] == "gas_ppm" and rej[0][0]["type"] == "duplicate_key"
    assert rej[1][0]["field"] == "gas_ppm" and rej[2][0]["field"] == "ts"
    r = await client.post("/api/readings", content=dup, headers=JSON)
    assert r.status_code == 422 and _fields(r) == ["gas_ppm"]
    silence = (
        f'{{"device_id":"a","device_id":"b","ends_at":"{SILENCE_END}","comment":"c","author":"a"}}'
    )
    r = await client.post("/api/silences", content=silence, headers=JSON)
    assert r.status_code == 422 and _fields(r) == ["device_id"]


async def test_bodies_that_are_not_json_are_415_naming_the_header(
    client: httpx.AsyncClient,
) -> None:
    one = reading("ct", time.time(), 400.0)
    for url, method, body in (
        ("/api/readings", "POST", one),
        ("/api/devices/ct", "PATCH", {"name": "x"}),
        ("/api/silences", "POST", {"device_id": "x", "ends_at": SILENCE_END}),
    ):
        for headers in ({"content-type": "text/plain"}, {}):
            r = await client.request(method, url, content=httpx_dumps(body), headers=headers)
            assert r.status_code == 415, (url, headers, r.text)
            assert _fields(r) == ["content-type"]
    r = await client.patch("/api/devices/ct", content=b"garbage", headers=JSON)
    assert r.status_code == 422 and _fields(r) == ["(body)"] and "JSON" in r.text
    r = await client.post("/api/silences", content=b"[" * 50_000 + b"]" * 50_000, headers=JSON)
    assert r.status_code == 422 and _fields(r) == ["(body)"]  # was a bare 400 http_error


async def test_a_compressed_or_non_utf8_body_is_refused_naming_why(
    client: httpx.AsyncClient,
) -> None:
    """A gzip body got a 422 saying it was not UTF-8 text, and a UTF-16 body was accepted,
    though UTF-8 is the only encoding JSON bodies take (newcomer of 2 Dec). A content coding
    is a 415 naming ``content-encoding`` (RFC 9110 section 15.5.16), another charset a 415
    naming ``content-type``, UTF-16 bytes a 422; UTF-8 and ASCII are taken."""
    import gzip

    body = httpx_dumps(reading("enc", time.time(), 400.0))
    r = await client.post(
        "/api/readings",
        content=gzip.compress(body),
        headers={**JSON, "content-encoding": "gzip"},
    )
    assert r.status_code == 415 and _fields(r) == ["content-encoding"], r.text
    for charset in ("utf-16", "iso-8859-1"):
        ct = {"content-type": f"application/json; charset={charset}"}
        r = await client.post("/api/readings", content=body, headers=ct)
        assert r.status_code == 415 and _fields(r) == ["content-type"], r.text
    for encoded in (body.decode().encode("utf-16"), body.decode().encode("utf-16-le")):
        r = await client.post("/api/readings", content=encoded, headers=JSON)
        assert r.status_code == 422 and "not UTF-8" in r.text, r.text
    for ct in ("application/json; charset=UTF-8", "application/json; charset=us-ascii"):
        r = await client.post("/api/readings", content=body, headers={"content-type": ct})
        assert r.status_code == 200, (ct, r.text)
    ok = {**JSON, "content-encoding": "identity"}
    assert (await client.post("/api/readings", content=body, headers=ok)).status_code == 200


def httpx_dumps(body: object) -> bytes:
    import json

    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "url,field",
    [
        (f"/api/events?since={BIG}", "since"),
        (f"/api/alerts?cursor={BIG}", "cursor"),
        (f"/api/devices?cursor={BIG}", "cursor"),
        ("/api/devices?cursor=garbage", "cursor"),
        (f"/api/webhooks/deliveries?event_id={BIG}", "event_id"),
        (f"/api/webhooks/deliveries?cursor={BIG}", "cursor"),
        (f"/api/events?limit={BIG}", "limit"),
        (f"/api/alerts?limit={BIG}", "limit"),
        (f"/api/devices/a/readings?max_points={BIG}", "max_points"),
        ("/api/devices/a/readings?bucket_s=1e400", "bucket_s"),
        ("/api/devices/a/readings?bucket_s=5e-324", "bucket_s"),  # found by the fuzz test: 500
        ("/api/alerts?from=2026-01-01T00:00:00", "from"),
        ("/api/alerts?to=2026-01-01T00:00:00", "to"),
        ("/api/devices/a/readings?from=2026-01-01T00:00:00", "from"),
        ("/api/devices/a/readings?to=2026-W01-1T00:00:00Z", "to"),
        ("/api/alerts?devce_id=a", "devce_id"),
        ("/api/devices?stat=active", "stat"),
        ("/api/events?sinse=3", "sinse"),
        ("/api/silences?x=1", "x"),
        # a device id that no reading could have: 422 naming it, not 404
        ("/api/devices/" + "a" * 300, "device_id"),
        ("/api/devices/" + "a" * 65 + "/readings", "device_id"),
        ("/api/devices/a%20b", "device_id"),
        ("/api/alerts?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("/api/alerts?device_id=" + "a" * 65, "device_id"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(
    client: httpx.AsyncClient, url: str, field: str
) -> None:
    r = await client.get(url)
    assert r.status_code == 422, (url, r.text)
    assert _fields(r) == [field], r.json()


async def test_a_parameter_error_names_the_parameter_and_what_it_takes(
    client: httpx.AsyncClient,
) -> None:
    """Newcomer: ``/api/devices?state=bogus`` named ``state.0.literal['normal']``, and a
    repeated ``limit`` was taken (its last value). A bad value of a repeated parameter is
    named by the parameter and the values it takes; a single-valued one given twice is 422
    naming it; a parameter that takes several values still does."""
    r = await client.get("/api/devices", params={"state": "bogus"})
    [err] = r.json()["detail"]
    assert r.status_code == 422 and err["field"] == "state", r.text
    for value in ("normal", "active", "cleared_unacked", "acknowledged", "'bogus'"):
        assert value in err["reason"], err
    r = await client.get("/api/alerts", params=[("kind", "leak"), ("kind", "gas")])
    assert r.status_code == 422 and _fields(r) == ["kind"], r.text
    for url in ("/api/alerts?limit=5&limit=1000", "/api/devices?limit=1&state=active&limit=2"):
        r = await client.get(url)
        assert r.status_code == 422 and _fields(r) == ["limit"], r.text
        assert "given 2 times" in r.json()["detail"][0]["reason"], r.text
    r = await client.get("/api/devices", params=[("state", "normal"), ("state", "active")])
    assert r.status_code == 200, r.text


async def test_a_number_too_long_for_python_is_refused_in_plain_words(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"device_id":"a","ts":' + b"1" * 5000 + b',"gas_ppm":1}'
    r = await client.post("/api/readings", content=body, headers=JSON)
    assert r.status_code == 422
    reason = r.json()["detail"][0]["reason"]
    assert "more than 4300 digits" in reason and "sys." not in reason, reason


@pytest.mark.parametrize("field", ["gas_ppm", "temperature_c", "humidity_pct"])
async def test_an_integer_too_large_for_a_float_is_named_not_finite(
    client: httpx.AsyncClient, field: str
) -> None:
    """A 401-digit integer is a number, so "not a valid number" (pydantic's float_type) was
    the wrong reason (newcomer of 1 Dec 13:05); it is refused as 1e400 is."""
    values = {"gas_ppm": "400", "temperature_c": "20", "humidity_pct": "40"}
    values[field] = "9" * 401
    one = '{"device_id":"a",' + ",".join(f'"{k}":{v}' for k, v in values.items()) + "}"
    r = await client.post("/api/readings", content=one, headers=JSON)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == field and err["type"] == "finite_number", err
    assert "401-digit integer" in err["reason"] and "not a finite number" in err["reason"]
    r = await client.post("/api/readings", content=f"[{one}]", headers=JSON)
    [rej] = r.json()["rejected"]
    assert rej["errors"][0]["type"] == "finite_number"


async def test_a_silence_pattern_no_device_id_can_match_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """``"device_id": "sim 01"`` was accepted (201) and silenced nothing: no device id holds
    a space (README newcomer of 8 Dec). A glob with bracket expressions is still accepted."""
    body = {"kind": "leak", "ends_at": SILENCE_END, "comment": "x", "author": "y"}
    r = await client.post("/api/silences", json={**body, "device_id": "sim 01"})
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "device_id" and "matches no device id: ' '" in err["reason"], err
    r = await client.post("/api/silences", json={**body, "device_id": "sim-0[1-3]*"})
    assert r.status_code == 201, r.text


async def test_a_batch_item_or_body_that_is_not_an_object_says_so_in_json_terms(
    client: httpx.AsyncClient,
) -> None:
    """``[1, "a", null]`` gave each item "Input should be a valid dictionary or instance of
    Reading" (a class name), and ``PATCH`` with ``[]`` "... object to extract fields from"
    (README newcomer of 8 Dec)."""
    r = await client.post("/api/readings", content=b'[1, "a", null]', headers=JSON)
    reasons = [item["errors"][0]["reason"] for item in r.json()["rejected"]]
    assert reasons == [
        "must be a JSON object, not a number",
        "must be a JSON object, not a string",
        "must be a JSON object, not null",
    ], r.text
    r = await client.patch("/api/devices/obj-1", content=b"[]", headers=JSON)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["reason"] == "must be a JSON object, not an array", err


async def test_silence_that_has_already_ended_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/silences",
        json={
            "device_id": "*",
            "ends_at": "2020-01-01T00:00:00Z",
            "comment": "x",
            "author": "y",
        },
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == ["ends_at"] and "past" in r.json()["detail"][0]["reason"]


async def test_silence_ending_before_it_starts_names_ends_at(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/silences",
        json={
            "device_id": "a",
            "starts_at": "2026-01-02T00:00:00Z",
            "ends_at": "2026-01-01T00:00:00Z",
            "comment": "c",
            "author": "a",
        },
    )
    assert r.status_code == 422 and _fields(r) == ["ends_at"]
    # the start is told in the API's own time format (it read "...T00:00:00+00:00")
    assert "(2026-01-02T00:00:00.000Z)" in r.json()["detail"][0]["reason"]


async def test_a_silence_is_at_most_7_days_long(client: httpx.AsyncClient) -> None:
    """A fleet-wide leak silence until 2058 was accepted (newcomer of 2 Dec): shelving is
    time-limited (ANSI/ISA-18.2). Over 7 days from its start is refused naming ``ends_at``;
    a week starting tomorrow is taken."""

    def at(days: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * 86400))

    body = {"device_id": "*", "kind": "leak", "comment": "c", "author": "a"}
    r = await client.post("/api/silences", json={**body, "ends_at": "2058-01-01T00:00:00Z"})
    assert r.status_code == 422 and _fields(r) == ["ends_at"], r.text
    assert "at most 168 h" in r.json()["detail"][0]["reason"]
    r = await client.post("/api/silences", json={**body, "ends_at": at(7.2)})
    assert r.status_code == 422 and _fields(r) == ["ends_at"], r.text
    r = await client.post("/api/silences", json={**body, "starts_at": at(1), "ends_at": at(7.9)})
    assert r.status_code == 201, r.text


async def test_a_device_cursor_from_the_last_page_still_works(client: httpx.AsyncClient) -> None:
    now = time.time()
    await client.post("/api/readings", json=[reading(d, now, 400.0) for d in ("a", "b", "c")])
    r = await client.get("/api/devices?limit=2")
    assert r.status_code == 200 and r.json()["next_cursor"] == "b"
    r = await client.get("/api/devices?cursor=b")
    assert [d["device_id"] for d in r.json()["devices"]] == ["c"]


async def test_a_bad_device_id_is_worded_alike_on_every_route(client: httpx.AsyncClient) -> None:
    """POST quoted the regular expression, GET /api/alerts said it in words (newcomer): one
    wording everywhere, naming the field and the offending character or length; the
    pattern stays in the OpenAPI schema."""
    now = time.time()
    for bad, why in (("bad id", "holds ' '"), ("x" * 65, "65 characters, more than 64")):
        body = await client.post("/api/readings", json=reading(bad, now, 400.0))
        batch = await client.post(
            "/api/readings", json=[reading(bad, now, 400.0), reading("ok", now, 400.0)]
        )
        path = await client.get(f"/api/devices/{bad}")
        query = await client.get("/api/alerts", params={"device_id": bad})
        replies = [
            body.json()["detail"][0],
            batch.json()["rejected"][0]["errors"][0],
            path.json()["detail"][0],
            query.json()["detail"][0],
        ]
        assert [body.status_code, path.status_code, query.status_code] == [422] * 3
        assert {r["field"] for r in replies} == {"device_id"}
        reasons = {r["reason"] for r in replies}
        assert len(reasons) == 1, reasons
        [reason] = reasons
        assert why in reason and "A-Z a-z 0-9 . _ : -" in reason and "pattern" not in reason
    spec = (await client.get("/openapi.json")).json()
    [param] = spec["paths"]["/api/devices/{device_id}"]["get"]["parameters"]
    assert param["schema"]["pattern"] == DEVICE_ID_PATTERN


async def test_json_nested_deeper_than_the_documented_limit_is_refused_as_a_whole(
    settings: Settings,
) -> None:
    """More than ``MAX_DEPTH`` (32) levels of arrays and objects is a 422 naming the limit,
    REST and WebSocket, readings or any other body, at any depth (200 levels were answered
    200 with the item refused, 2,000 with 422: newcomer); 32 levels are decoded."""

    def nested(n: int) -> str:
        return "[" * n + "]" * n

    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as http,
        websockets.connect(
            base.replace("http", "ws", 1) + "/ws/readings", additional_headers=auth_headers()
        ) as ws,
    ):
        for n in (33, 200, 2_000, 100_000):
            for url in ("/api/readings", "/api/silences"):
                r = await http.post(url, content=nested(n), headers=JSON)
                assert r.status_code == 422, (n, url, r.text)
                [err] = r.json()["detail"]
                assert err["field"] == "(body)" and "more than 32 levels" in err["reason"], err
            await ws.send(nested(n))
            reply = json.loads(await ws.recv())
            assert reply["error"] == "invalid_body", reply
            assert "more than 32 levels" in reply["detail"][0]["reason"], reply
        r = await http.post("/api/readings", content=nested(32), headers=JSON)
        assert r.status_code == 200 and r.json()["rejected"][0]["index"] == 0, r.text
        one = {"device_id": "x", "ends_at": [[{"a": 1}]], "comment": "c", "author": "a"}
        r = await http.post("/api/silences", json=one)  # 3 levels: the field's own error
        assert r.status_code == 422 and _fields(r) == ["ends_at"], r.text
    from app.jsonio import MAX_DEPTH

    assert MAX_DEPTH == 32  # README's wire contract states it


@pytest.mark.parametrize(
    "path,params,field,says",
    [
        ("/api/audit", {"action": "alert.acked"}, "action", "'alert.ack'"),
        ("/api/audit", {"action": ""}, "action", "'key.create'"),
        ("/api/audit", {"key_id": "not-a-key-id"}, "key_id", "16 lowercase hex"),
        ("/api/events", {"device_id": "a b"}, "device_id", "' ', a character"),
        ("/api/events", {"device_id": ""}, "device_id", "it is empty"),
        ("/api/alerts", {"device_id": "a b"}, "device_id", "' ', a character"),
    ],
)
async def test_a_filter_value_that_can_match_nothing_is_a_422_not_an_empty_page(
    client: httpx.AsyncClient, path: str, params: dict[str, str], field: str, says: str
) -> None:
    """A typo'd audit action, an empty filter, a malformed key id or device id answered
    200 with an empty list (tester of 1 Dec): now a 422 naming the field and why."""
    r = await client.get(path, params=params)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == field and says in err["reason"], err


async def test_valid_audit_and_event_filters_still_answer(client: httpx.AsyncClient) -> None:
    for path, params in (
        ("/api/audit", {"action": ["alert.ack", "key.create"], "key_id": "bootstrap"}),
        ("/api/audit", {"key_id": "0123456789abcdef"}),
        ("/api/events", {"device_id": "kitchen-01"}),
    ):
        r = await client.get(path, params=params)
        assert r.status_code == 200, (path, r.text)


BODY_ROUTES = [
    ("POST", "/api/silences"),
    ("POST", "/api/keys"),
    ("POST", "/api/alerts/no-such-alert/ack"),
    ("PUT", "/api/devices/big-1"),
    ("PATCH", "/api/devices/big-1"),
    ("POST", "/api/devices/big-1/baseline-reset"),
]


async def test_every_body_is_capped_while_it_streams_in_with_or_without_a_key(
    tmp_path: Path,
) -> None:
    """Only ``POST /api/readings`` limited its body; the other routes read the whole body
    before answering, even a 401 (4 x 300 MiB unauthenticated took the server from 564 MiB
    to 2.3 GiB: tester of 1 Dec). Now a ``Content-Length`` over ``max_body_bytes`` is a 413
    naming the limit, and a chunked body is refused once past it; readings keep 16 MiB."""
    limit = 4096
    settings = Settings(db_path=tmp_path / "gasleak.db", max_body_bytes=limit)
    big = b"[" + b" " * (limit + 10) + b"]"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        for method, path in BODY_ROUTES:
            for headers in ({}, auth_headers()):
                r = await http.request(method, path, content=big, headers={**JSON, **headers})
                assert r.status_code == 413, (method, path, r.text)
                [err] = r.json()["detail"]
                assert r.json()["error"] == "too_large" and err["field"] == "(body)", r.text
                assert f"{len(big)} bytes" in err["reason"], err
                assert f"at most {limit} bytes" in err["reason"], err
                r = await http.request(method, path, content=chunked(), headers={**JSON, **headers})
                assert r.status_code == 413, (method, path, r.text)
                assert f"at most {limit} bytes" in r.json()["detail"][0]["reason"], r.text
        # under the limit, the route answers as before
        r = await http.post("/api/silences", content=b"{}", headers=JSON)
        assert r.status_code == 401, r.text
        # readings keep their own 16 MiB: a body over max_body_bytes is decoded
        r = await http.post("/api/readings", content=big, headers={**JSON, **auth_headers()})
        assert r.status_code == 200 and r.json()["accepted"] == 0, r.text
        huge = b" " * (16 * 2**20 + 1)
        r = await http.post("/api/readings", content=huge, headers={**JSON, **auth_headers()})
        assert r.status_code == 413, r.text
        assert "at most 16777216 bytes (16 MiB)" in r.json()["detail"][0]["reason"], r.text


async def test_openapi_lists_the_422_and_415_every_strict_route_answers(
    client: httpx.AsyncClient,
) -> None:
    """``GET /api/status?foo=1`` answers 422 naming ``foo`` (every REST route refuses a query
    parameter it does not take), and ``POST /api/silences`` with ``text/plain`` 415, but
    their OpenAPI listed neither (README newcomer of 9 Dec). Every operation of the REST
    routes lists 422 now, and every one that takes a body 415; the health probes, which
    take any query, list neither."""
    r = await client.get("/api/status", params={"foo": "1"})
    assert r.status_code == 422 and _fields(r) == ["foo"]
    doc = (await client.get("/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = op["responses"]
            if path in ("/livez", "/readyz", "/healthz"):
                assert "422" not in codes, (path, method)
                continue
            assert "422" in codes, (path, method)
            if "requestBody" in op:
                assert "415" in codes, (path, method)


async def test_ws_readings_refuse_an_unknown_or_repeated_query_parameter_naming_it(
    settings: Settings,
) -> None:
    """``/ws/readings?devce=a`` was taken and the parameter ignored (newcomer of 9 Dec),
    while REST and ``/ws/alerts`` refuse what they do not take: the socket now answers one
    ``invalid_request`` frame naming each parameter and closes with 1008, storing nothing;
    with no query it takes readings as before."""
    async with serve_in_loop(settings) as (base, _):
        ws_base = base.replace("http", "ws", 1) + "/ws/readings"
        for query, fields in (("?devce=a&x=1", ["devce", "x"]), ("?ticket=a&ticket=b", ["ticket"])):
            async with websockets.connect(ws_base + query, additional_headers=auth_headers()) as ws:
                err = json.loads(await ws.recv())
                assert err["error"] == "invalid_request", err
                assert [d["field"] for d in err["detail"]] == fields, err
                assert (
                    "unknown query parameter" in err["detail"][0]["reason"]
                    or "given 2 times" in (err["detail"][0]["reason"])
                )
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with websockets.connect(ws_base, additional_headers=auth_headers()) as ws:
            await ws.send(json.dumps(LEAP_BATCH))
            assert json.loads(await ws.recv()) == {"accepted": 3, "rejected": [], "warnings": []}


async def test_a_reading_of_a_million_names_gets_one_short_error(client: httpx.AsyncClient) -> None:
    """A 13 MB reading of 700,000 unknown names: answered name by name, a 60 MB body after
    6-8 s, every other client waiting (newcomer of 10 Dec). Now one error naming the size
    and the limit; a REST body with an object of too many names is refused alike."""
    one = {"device_id": "m", "gas_ppm": 1, "temperature_c": 1, "humidity_pct": 1}
    one.update({f"k{i}": i for i in range(700_000)})
    r = await client.post("/api/readings", content=json.dumps(one), headers=JSON)
    assert r.status_code == 422 and len(r.content) < 1_000, r.content[:300]
    [err] = r.json()["detail"]
    assert err["type"] == "too_many_fields" and err["field"] == "(body)", err
    wide = {"author": "a", **{f"x{i}": 1 for i in range(100)}}
    r = await client.post("/api/alerts/none/ack", content=json.dumps(wide), headers=JSON)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "too_many_fields", r.text


async def test_a_blank_text_field_is_called_blank(client: httpx.AsyncClient) -> None:
    """``{"name": "   "}`` was refused as "String should have at least 1 character" for
    three characters sent (the text fields strip whitespace first; newcomer of 10 Dec)."""
    r = await client.post("/api/keys", json={"role": "viewer", "name": "   "})
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "name" and err["reason"].startswith("is blank"), err


async def test_a_bad_device_prefix_is_explained_in_words(client: httpx.AsyncClient) -> None:
    """``POST /api/keys`` with ``"device_prefix": "a b"`` answered pydantic's "String
    should match pattern '^[A-Za-z0-9._:-]{1,64}$'" (newcomer of 10 Dec); it names the
    character now, as device ids do."""
    body = {"role": "gateway", "name": "g", "device_prefix": "a b"}
    r = await client.post("/api/keys", json=body)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "device_prefix" and "holds ' '" in err["reason"], err
    assert "^[" not in err["reason"], err


async def test_an_unknown_field_name_is_cut_short_in_the_error(client: httpx.AsyncClient) -> None:
    """A reading with an unknown key of 10 MB was answered with its name in full: a 10.4 MB
    422 (newcomer of 2 Dec). The name is cut as a device id is: 70 characters, then "..."."""
    long = "k" * 1_000_000
    one = reading("a", time.time(), 1.0) | {long: 1}
    for path, body in (
        ("/api/readings", one),
        ("/api/readings", [one]),
        ("/api/alerts/none/ack", {"author": "a", long: 1}),
    ):
        r = await client.post(path, json=body)
        assert len(r.content) < 1_000, (path, len(r.content))
        errors = r.json()["detail"] if r.status_code == 422 else r.json()["rejected"][0]["errors"]
        [err] = errors
        assert err["type"] == "extra_forbidden" and err["field"] == "k" * 70 + "...", err


async def test_a_key_name_with_a_control_character_is_refused(client: httpx.AsyncClient) -> None:
    """``POST /api/keys`` took any name: a line break in it wrote a forged line in the server
    log, an ANSI escape reached ``--mode keys list``'s terminal (newcomer of 2 Dec). It is
    one line now, as every other free-text name; the reason names the character, not the
    pattern."""
    forged = "evil\n2026-12-02 16:00:00,000 INFO app.services.audit: key.create by admin"
    for name, char in ((forged, r"'\n'"), ("\x1b[31mred\x1b[0m", r"'\x1b'")):
        r = await client.post("/api/keys", json={"role": "viewer", "name": name})
        assert r.status_code == 422, r.text
        [err] = r.json()["detail"]
        assert err["field"] == "name" and err["type"] == "string_pattern_mismatch", err
        assert f"holds {char}" in err["reason"] and "^[" not in err["reason"], err
    r = await client.post("/api/alerts/none/ack", json={"author": "a\tb"})
    [err] = r.json()["detail"]
    assert err["field"] == "author" and "holds '\\t' at position 1" in err["reason"], err


async def test_a_cursor_outside_the_ids_handed_out_is_refused(client: httpx.AsyncClient) -> None:
    """README said a cursor "this API did not hand out" is a 422, but ``cursor=0`` and
    ``cursor=99999999999`` were answered 200 by /api/alerts, /api/audit and
    /api/webhooks/deliveries (newcomer of 2 Dec). A cursor is a row id: from 1 to the
    list's newest id; 0, and ids past the newest (another store's, made up), are refused."""
    for _ in range(3):  # three audit entries: ids 1-3
        r = await client.post("/api/keys", json={"role": "viewer", "name": "v"})
        assert r.status_code == 201, r.text
    for path in ("/api/alerts", "/api/audit", "/api/webhooks/deliveries"):
        for cursor in ("0", "99999999999", "1"):
            if path == "/api/audit" and cursor == "1":
                continue  # handed-out range of the audit log: 1-3
            r = await client.get(path, params={"cursor": cursor})
            assert r.status_code == 422, (path, cursor, r.text)
            [err] = r.json()["detail"]
            assert err["field"] == "cursor" and "not a cursor from this API" in err["reason"], err
    page = (await client.get("/api/audit", params={"limit": 1})).json()
    assert page["next_cursor"] == "3"
    r = await client.get("/api/audit", params={"cursor": page["next_cursor"]})
    assert r.status_code == 200 and [e["audit_id"] for e in r.json()["entries"]] == [2, 1]
    r = await client.get("/api/audit", params={"cursor": "4"})
    assert r.status_code == 422 and "from 1 to 3" in r.json()["detail"][0]["reason"], r.text


async def _free_text_refuses(client: httpx.AsyncClient, text: str, char: str, why: str) -> None:
    """Every free-text field of a POST (ack author and comment, key name, silence author
    and comment, baseline-reset ``by``) refuses ``text``: 422 naming the field, type
    string_pattern_mismatch, a reason holding ``why`` and not ``char`` raw."""
    cases = [
        ("/api/alerts/none/ack", {"author": text}, "author"),
        ("/api/alerts/none/ack", {"author": "j.doe", "comment": text}, "comment"),
        ("/api/keys", {"role": "viewer", "name": text}, "name"),
        ("/api/silences", {"ends_at": SILENCE_END, "comment": "s", "author": text}, "author"),
        ("/api/silences", {"ends_at": SILENCE_END, "comment": text, "author": "j"}, "comment"),
        ("/api/devices/d1/baseline-reset", {"by": text}, "by"),
    ]
    for path, body, field in cases:
        r = await client.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        [err] = r.json()["detail"]
        assert err["field"] == field and err["type"] == "string_pattern_mismatch", err
        assert why in err["reason"] and char not in err["reason"], err


@pytest.mark.parametrize(
    "char,name",
    [
        ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
        ("\u200f", "RIGHT-TO-LEFT MARK"),
        ("\u200b", "ZERO WIDTH SPACE"),
        ("\u200d", "ZERO WIDTH JOINER"),
        ("\u2060", "WORD JOINER"),
        ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
    ],
)
async def test_a_bidi_or_invisible_character_is_refused_in_free_text(
    client: httpx.AsyncClient, char: str, name: str
) -> None:
    """An ack author holding U+202E (RIGHT-TO-LEFT OVERRIDE) or a zero-width character was
    accepted, then shown in later 409 messages and in the console as another name
    (newcomer of 2 Dec; Unicode TR #36, CVE-2021-42574 "Trojan Source"). Every free-text
    field refuses these format characters as it refuses control characters: the reason
    names the character and its position, and does not carry it raw."""
    spoof = f"j.d{char}eod"
    code = f"U+{ord(char):04X} {name}"
    await _free_text_refuses(client, spoof, char, f"({code}) at position 3")
    r = await client.put("/api/devices/d1", json={"name": spoof})
    assert r.status_code == 422 and _fields(r) == ["name"], r.text
    r = await client.post("/api/keys", json={"role": "viewer", "name": "Zoë 😀 שלום"})
    assert r.status_code == 201, r.text  # other non-ASCII text stays welcome


async def test_a_slash_sent_as_pct_2f_in_a_device_id_is_refused_naming_device_id(
    client: httpx.AsyncClient,
) -> None:
    """The router matches the decoded path, in which ``%2F`` is a ``/``: ``PUT
    /api/devices/a%2F1`` was a bare ``404 {"detail": "Not Found"}`` naming nothing, and
    ``GET /api/devices/a%2Freadings`` was answered as the readings of device ``a``
    (newcomer of 2 Dec). Both are a 422 naming ``device_id`` and the '/'."""
    r = await client.post("/api/readings", json=reading("a", time.time(), 400.0))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    for method, path in (
        ("PUT", "/api/devices/a%2F1"),
        ("PATCH", "/api/devices/a%2f1"),
        ("GET", "/api/devices/a%2F1/readings"),
        ("GET", "/api/devices/a%2Freadings"),
        ("POST", "/api/devices/a%2F1/baseline-reset"),
    ):
        body = {"by": "j.doe"} if method == "POST" else ({} if method != "GET" else None)
        r = await client.request(method, path, json=body)
        assert r.status_code == 422, (method, path, r.text)
        assert r.json()["error"] == "invalid_request", r.text
        [err] = r.json()["detail"]
        assert err["field"] == "device_id" and "holds '/'" in err["reason"], err
    assert (await client.get("/api/devices/a/readings")).status_code == 200


@pytest.mark.parametrize(
    "char,words",
    [
        ("\x85", "(U+0085, a C1 control character)"),
        ("\x9b", "(U+009B, a C1 control character)"),
        ("\x80", "(U+0080, a C1 control character)"),
        ("\x9f", "(U+009F, a C1 control character)"),
        ("\u2028", "(U+2028 LINE SEPARATOR)"),
        ("\u2029", "(U+2029 PARAGRAPH SEPARATOR)"),
    ],
)
async def test_a_c1_control_or_unicode_line_separator_is_refused_in_free_text(
    client: httpx.AsyncClient, char: str, words: str
) -> None:
    """The free-text rule refused the ASCII control characters only: a key name
    "ops\\u0085 2026-12-02 ... INFO app.services.audit: ..." forged a second server log line
    (U+0085 NEXT LINE, U+2028 and U+2029 are line breaks to Python's splitlines), and an
    8-bit CSI U+009B reached the terminal of ``keys list`` (newcomer of 2 Dec). Every
    free-text field refuses the C1 controls U+0080-U+009F and U+2028/U+2029 now, with a
    reason naming the character and its position, escaped."""
    text = f"ops{char} 2026-12-02 16:00:00,000 INFO app.services.audit: key.create by admin"
    await _free_text_refuses(client, text, char, f"{words} at position 3")
    r = await client.put("/api/devices/d1", json={"name": text})
    assert r.status_code == 422 and _fields(r) == ["name"], r.text
    r = await client.post("/api/keys", json={"role": "viewer", "name": "Zoë\u00a0ops ¡ÿ"})
    assert r.status_code == 201, r.text  # U+00A0 and the rest of Latin-1 stay welcome


async def test_every_bad_cursor_gets_the_one_cursor_reason_on_every_list(
    client: httpx.AsyncClient,
) -> None:
    """The three cursor routes disagreed (newcomer of 2 Dec): /api/alerts typed the cursor
    as a string of at most 19 characters (a 20-digit cursor got "String should have at most
    19 characters"); /api/webhooks/deliveries typed it as an int ("abc", "" and "1e3" got
    pydantic's "unable to parse string as an integer", -1 got ">= 0" although 0 is refused
    too, "1_0" was read as 10); /api/audit gave the cursor reason for all. All three give
    the one reason of app.errors.cursor_position now."""
    bad = ["abc", "", "1e3", "-1", "0", "1_0", "1" * 20, "9" * 40, " 1", "+1", "1.0", "１"]
    for path in ("/api/alerts", "/api/audit", "/api/webhooks/deliveries"):
        for cursor in bad:
            r = await client.get(path, params={"cursor": cursor})
            assert r.status_code == 422, (path, cursor, r.text)
            [err] = r.json()["detail"]
            assert err["field"] == "cursor" and err["type"] == "cursor", (path, cursor, err)
            assert "not a cursor from this API" in err["reason"], (path, cursor, err)
    with pytest.raises(InvalidRequest):
        cursor_position("1_0", 100)  # not read as 10
    assert cursor_position("10", 100) == 10


async def test_a_value_the_client_sent_is_cut_short_in_every_error(
    client: httpx.AsyncClient,
) -> None:
    """GET /api/alerts/<60,000 x a> answered a 60 KB 404 naming the id whole; so did
    POST /api/alerts/<long>/ack, DELETE /api/silences/<long>, a long Content-Type or
    Content-Encoding (415) and a long item of a list query parameter (422) (newcomer of
    2 Dec). Each is cut to its first 70 characters and "..." as README promises."""
    long = "a" * 60_000
    cut = "'" + "a" * 70 + "'..."
    for method, path, kw in [
        ("GET", f"/api/alerts/{long}", {}),
        ("POST", f"/api/alerts/{long}/ack", {"json": {"author": "j.doe"}}),
        ("DELETE", f"/api/silences/{long}", {}),
        ("POST", "/api/silences", {"headers": {"content-type": long}, "content": b"{}"}),
        (
            "POST",
            "/api/silences",
            {
                "headers": {"content-type": "application/json", "content-encoding": long},
                "content": b"{}",
            },
        ),
        ("GET", f"/api/alerts?state=active&state={long}", {}),
    ]:
        r = await client.request(method, path, **kw)
        assert r.status_code in (404, 415, 422), (path[:40], r.status_code)
        assert len(r.content) < 1_000, (method, path[:40], len(r.content))
        assert cut in r.text, (path[:40], r.text)


async def test_a_405_allows_every_method_of_the_path_not_only_the_first_routes(
    client: httpx.AsyncClient,
) -> None:
    """RFC 9110 §15.5.6: Allow lists the target resource's methods. Starlette answered the
    first matching route's only: DELETE /api/keys -> Allow: GET (POST missing), DELETE
    /api/silences -> POST, DELETE /api/devices/x -> GET (PUT, PATCH missing) (newcomer of
    2 Dec)."""
    for method, path, allow in [
        ("DELETE", "/api/keys", "GET, HEAD, POST"),
        ("DELETE", "/api/silences", "GET, HEAD, POST"),
        ("DELETE", "/api/devices/x", "GET, HEAD, PATCH, PUT"),
        ("PUT", "/api/readings", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("POST", "/static/favicon.svg", "GET, HEAD"),
    ]:
        r = await client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["allow"] == allow, (method, path, r.headers.get("allow"))
        assert r.json()["error"] == "method_not_allowed"


async def test_a_bad_device_cursor_gets_the_cursor_reason_of_every_list(
    client: httpx.AsyncClient,
) -> None:
    """GET /api/devices?cursor=0 answered type invalid_request, and a cursor that is no
    device id (%, 70 characters) pydantic's pattern error, while /api/alerts, /api/audit
    and /api/webhooks/deliveries answer type cursor (newcomer of 2 Dec)."""
    await client.post("/api/readings", json=[reading("b", time.time(), 400.0)])
    for cursor in ["0", "abc", "", "a%b", "a" * 70, "a/b", " b"]:
        r = await client.get("/api/devices", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
        [err] = r.json()["detail"]
        assert err["field"] == "cursor" and err["type"] == "cursor", (cursor, err)
        assert err["reason"].startswith("not a cursor from this API: its cursors are "), err
    r = await client.get("/api/devices", params={"cursor": "b"})
    assert r.status_code == 200 and r.json()["devices"] == []


async def test_a_long_charset_is_cut_short_in_the_415(client: httpx.AsyncClient) -> None:
    """``Content-Type: application/json; charset=<60,000 x>`` was answered with the charset
    whole, a 60,164-byte 415 (newcomer of 2 Dec); it is cut as any value sent: 70
    characters, then "..."."""
    ct = {"content-type": "application/json; charset=" + "x" * 60_000}
    for url in ("/api/readings", "/api/silences"):
        r = await client.post(url, content=b"{}", headers=ct)
        assert r.status_code == 415 and len(r.content) < 1_000, (url, len(r.content))
        [err] = r.json()["detail"]
        assert err["field"] == "content-type" and "'" + "x" * 70 + "'..." in err["reason"], err


async def test_unknown_query_names_are_cut_short_and_counted_past_ten(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """``GET /api/alerts?<60,000 x b>=1`` echoed the name whole (a 60 KB 422), and
    ``?x0&x1&...&x5999``, a 35 KB request, got one entry per name: a 935 KB reply; the same
    on ``/ws/alerts`` and ``/ws/readings`` (newcomer of 2 Dec). A name is cut to 70
    characters and "...", and ten are listed, then one entry counting the rest."""
    many = "&".join(f"x{i}" for i in range(6000))
    r = await client.get("/api/alerts?" + "b" * 60_000 + "=1")
    assert r.status_code == 422 and len(r.content) < 1_000, len(r.content)
    assert _fields(r) == ["b" * 70 + "..."]
    r = await client.get("/api/alerts?" + many)
    assert r.status_code == 422 and len(r.content) < 5_000, len(r.content)
    detail = r.json()["detail"]
    assert [d["field"] for d in detail] == [f"x{i}" for i in range(10)] + ["(query)"], detail
    assert "5990 more unknown query parameters" in detail[-1]["reason"], detail[-1]
    r = await client.get("/api/alerts?" + "&".join(f"y{i}=1&y{i}=2" for i in range(30)))
    assert r.status_code == 422 and len(r.json()["detail"]) <= 11 + 11, r.text
    few = "&".join(f"x{i}" for i in range(600))  # the WebSocket handshake takes 8 KB lines
    async with serve_in_loop(settings) as (base, _):
        ws_base = base.replace("http", "ws", 1)
        for path in ("/ws/alerts", "/ws/readings"):
            for query in ("b" * 5_000 + "=1", few):
                async with websockets.connect(
                    f"{ws_base}{path}?{query}", additional_headers=auth_headers()
                ) as ws:
                    frame = await ws.recv()
                    assert len(frame) < 5_000, (path, len(frame))
                    err = json.loads(frame)
                    assert err["error"] == "invalid_request", err
                    assert err["detail"][0]["field"] in ("b" * 70 + "...", "x0"), err
                    assert len(err["detail"]) <= 11, err
