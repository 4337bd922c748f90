"""Parsing and per-reading validation: each bad reading is named with field and reason."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from app.errors import InvalidBody
from app.schemas.readings import ambient_issues
from app.services.ingest import (
    AMBIENT_UNKNOWN,
    Ingestor,
    ambient_warnings,
    fill_ambient,
    out_of_range,
    parse_body,
    validate,
)
from tests.conftest import reading


def fields(rejected) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in rejected.errors}


def test_batch_keeps_good_and_names_each_bad_field() -> None:
    items = [
        reading("a", 1.7e9, 400.0),
        reading("a", 1.7e9 + 1, float("nan")),
        {k: v for k, v in reading("a", 1.7e9 + 2, 400.0).items() if k != "temperature_c"},
        reading("a", 1.7e9 + 3, 400.0, rh=float("nan")),  # out of range: taken, ambient_warnings
        reading("a", 1.7e9 + 4, "400"),  # type: ignore[arg-type]
        reading("bad id!", 1.7e9 + 5, 400.0),
        reading("a", "2026-01-01T00:00:00", 400.0),  # type: ignore[arg-type]
        reading("a", 1.7e9 + 7, float("inf")),
    ]
    good, bad = validate(items)
    assert [i for i, _ in good] == [0]
    assert [b.index for b in bad] == [1, 2, 3, 4, 5, 6, 7]
    assert "finite" in fields(bad[0])["gas_ppm"]
    assert fields(bad[1])["temperature_c"] == "Field required"
    assert "finite" in fields(bad[2])["humidity_pct"]
    assert "valid number" in fields(bad[3])["gas_ppm"]
    assert "is not a device id: it holds ' '" in fields(bad[4])["device_id"]
    assert "UTC offset" in fields(bad[5])["ts"]
    assert "finite" in fields(bad[6])["gas_ppm"]


def test_ts_forms() -> None:
    good, bad = validate(
        [
            reading("a", "2026-11-29T12:00:00Z", 1.0),  # type: ignore[arg-type]
            reading("a", "2026-11-29T13:00:00+01:00", 1.0),  # type: ignore[arg-type]
            {k: v for k, v in reading("a", 0, 1.0).items() if k != "ts"},
            reading("a", 1.7e12, 1.0),  # milliseconds by mistake
            reading("a", True, 1.0),  # type: ignore[arg-type]
        ]
    )
    assert good[0][1].ts == good[1][1].ts == 1_795_953_600.0  # date -u -d 2026-11-29T12:00:00Z +%s
    assert good[2][1].ts is None
    assert [b.index for b in bad] == [3, 4]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\x00binary", "not UTF-8 text"),  # newcomer: "'utf-16-be' codec can't decode"
        (b'[{"device_id": "\xe9"}]', "not UTF-8 text"),
        (b'"a string"', "reading object or an array"),
        (b"42", "reading object or an array"),
        (b"[" + b",".join([b"{}"] * 10_001) + b"]", "at most 10000"),
    ],
)
def test_not_readings_at_all(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidBody) as exc:
        parse_body(body, max_items=10_000)
    assert reason in exc.value.detail[0]["reason"]


def test_unknown_field_is_named() -> None:
    _, bad = validate([{**reading("a", 1.7e9, 1.0), "gas_pmm": 3}])
    assert "gas_pmm" in fields(bad[0])


def test_future_ts_and_impossible_gas_are_refused() -> None:
    import time

    _, bad = validate(
        [
            reading("a", time.time() + 3600, 1.0),  # an hour ahead of the server clock
            reading("a", 1.7e9, 1e39),  # more than 100 % by volume
        ]
    )
    assert "ahead of the server clock" in fields(bad[0])["ts"]
    good, _ = validate([reading("a", 1.7e9, 1e39)])  # valid JSON; its unit's range is next
    [(pos, err)] = out_of_range([r for _, r in good], {})
    assert pos == 0 and err["field"] == "gas_ppm" and "above 1,000,000" in err["reason"]
    good, _ = validate([reading("a", time.time() + 60, 1.0)])  # ordinary clock skew
    assert len(good) == 1


def test_a_drifting_lel_zero_is_accepted_down_to_the_failure_signal() -> None:
    """A %LEL transmitter's zero drifts below 0 (-0.1 %LEL): those readings were refused as
    unit_range, 9 % of one transmitter's (newcomer). NAMUR NE 43: down to -2.5 %LEL (3.6 mA
    on a 0-100 %LEL loop) is accepted; below it a failure signal, refused naming the unit."""
    ing = Ingestor(buffers=None, scorer=None, max_items=100)  # type: ignore[arg-type]
    ing.units = {"lel": "%LEL"}
    t = 1.7e9
    gases = [-0.1, -1.25, -2.0, -2.5, -2.51, -0.0]
    batch = [reading("lel", t + i, g) for i, g in enumerate(gases)]
    for extra in ([], [{"device_id": "p"}]):  # the fast path, then the per-item path
        index, readings, bad = ing.decode(json.dumps(batch + extra))
        assert index == [0, 1, 2, 3, 5] and [r.gas_ppm for r in readings][:4] == gases[:4]
        [err] = [b.errors[0] for b in bad if b.index == 4]
        assert (err["field"], err["type"]) == ("gas_ppm", "unit_range")
        assert "below -2.5" in err["reason"] and "[-2.5, 20,000] %LEL" in err["reason"], err
    # a ppm device's zero stays at 0 (its span is unknown: see GAS_RANGE)
    [(_, ppm)] = validate([reading("p", t, -0.1)])[0]
    assert [i for i, _ in out_of_range([ppm], {})] == [0]


def test_the_gas_range_is_the_devices_units() -> None:
    """Every reading's gas had ppm's range, [0, 1,000,000], whatever its device's unit: an
    mV device could not report a negative value, a counts device nothing above 1,000,000 (a
    24-bit ADC reaches 8,388,607), and the error did not name the unit (newcomer)."""
    ing = Ingestor(buffers=None, scorer=None, max_items=100)  # type: ignore[arg-type]
    ing.units = {"adc": "counts", "mv": "mV", "lel": "%LEL"}
    t = 1.7e9
    batch = [
        reading("adc", t, 8_388_607.0),
        reading("adc", t, -8_388_608.0),
        reading("adc", t, 5e9),
        reading("mv", t, -250.0),
        reading("mv", t, 2e5),
        reading("p", t, -1.0),
        reading("p", t, 2e6),
        reading("lel", t, 150.0),
        reading("lel", t, -3.0),
    ]
    for extra in ([], [{"device_id": "p"}]):  # the fast path, then the per-item path
        index, readings, bad = ing.decode(json.dumps(batch + extra))
        assert index == [0, 1, 3, 7] and [r.gas_ppm for r in readings][:3] == [
            8_388_607.0,
            -8_388_608.0,
            -250.0,
        ]
        errs = {b.index: b.errors[0] for b in bad if b.index < len(batch)}
        assert sorted(errs) == [2, 4, 5, 6, 8]
        assert all(e["field"] == "gas_ppm" and e["type"] == "unit_range" for e in errs.values())
        for i, words in {
            2: ("above 4,294,967,295", "unit counts"),
            4: ("above 100,000", "unit mV"),
            5: ("below 0", "unit ppm"),
            6: ("above 1,000,000", "unit ppm"),
            8: ("below -2.5", "unit %LEL", "NAMUR NE 43"),
        }.items():
            assert all(w in errs[i]["reason"] for w in words), errs[i]
    with pytest.raises(InvalidBody) as exc:  # a single reading: a 422 naming the unit
        ing.decode(json.dumps(reading("mv", t, -2e5)))
    assert exc.value.detail[0]["field"] == "gas_ppm" and "unit mV" in exc.value.detail[0]["reason"]


def test_a_gas_just_over_its_units_top_is_named_in_full() -> None:
    """1,000,001 ppm was refused as "1e+06 is above 1,000,000" (newcomer of 1 Dec 14:25)."""
    from app.schemas.readings import gas_out_of_range

    err = gas_out_of_range(1_000_001.0, "ppm")
    assert err is not None and err["reason"].startswith("1,000,001 is above 1,000,000"), err


def test_a_device_id_a_url_path_cannot_name_is_refused_and_other_dotted_ids_are_kept() -> None:
    """ "." and ".." are a URL path's dot segments (RFC 3986 section 5.2.4): clients remove
    them, so ``/api/devices/../status`` never reaches such a device, whose alerts and
    status no one could then read (newcomer of 9 Dec: both were stored). Ids that only
    hold dots beside other characters are names like any other."""
    ids = [".", "..", "...", ".a", "..a", "a.", "a..b", "." + "x" * 63, ".." + "x" * 62]
    good, bad = validate([reading(d, 1.7e9 + i, 400.0) for i, d in enumerate(ids)])
    assert [i for i, _ in good] == [2, 3, 4, 5, 6, 7, 8]
    assert [b.index for b in bad] == [0, 1]
    for b in bad:
        assert "is not a device id: it is a URL path's dot segment" in fields(b)["device_id"]


def test_an_object_of_too_many_names_is_refused_by_its_size_not_name_by_name() -> None:
    """A reading of 700,000 unknown names (13 MB) was refused name by name: 6-8 s of the
    event loop and a 60 MB answer (newcomer of 10 Dec). A message whose objects hold
    hundreds of names each is refused before decoding, with one error; in a batch, one
    object past ``MAX_KEYS`` names is refused alone, by its size, and the others are kept.
    A device id of 60 colons is a name like any other."""
    from app.jsonio import MAX_KEYS

    one = {"device_id": "p", "gas_ppm": 1, "temperature_c": 1, "humidity_pct": 1}
    one.update({f"k{i}": i for i in range(700_000)})
    with pytest.raises(InvalidBody) as exc:
        parse_body(json.dumps(one).encode(), max_items=10)
    [err] = exc.value.detail
    assert err["type"] == "too_many_fields" and f"more than {MAX_KEYS} names" in err["reason"]
    good = reading("a:" + ":" * 60, 1.7e9, 400.0)
    crowded = {**good, **{f"x{i}": 1 for i in range(MAX_KEYS + 1)}}
    items, _ = parse_body(json.dumps([good, crowded, {**good, "ts": 1.7e9 + 1}]), max_items=10)
    kept, bad = validate(items)
    assert [i for i, _ in kept] == [0, 2]
    assert [b.index for b in bad] == [1] and len(bad[0].errors) == 1
    assert bad[0].errors[0]["type"] == "too_many_fields", bad[0].errors


@pytest.mark.parametrize(
    ("temp", "rh", "taken", "types"),
    [
        (21.0, 45.0, (21.0, 45.0), []),
        (-40.0, 0.0, (-40.0, 0.0), []),  # the bounds are measurements
        (125.0, 100.0, (125.0, 100.0), []),
        (-45.0, 0.0, (None, 0.0), ["ambient_out_of_range"]),  # SHT3x raw 0
        (130.0, 100.0, (None, 100.0), ["ambient_out_of_range"]),  # SHT3x raw 0xFFFF
        (21.0, 100.4, (21.0, 100.0), ["ambient_clipped"]),  # condensation
        (21.0, -0.3, (21.0, 0.0), ["ambient_clipped"]),
        (21.0, 102.0, (21.0, 100.0), ["ambient_clipped"]),
        (21.0, 102.5, (21.0, None), ["ambient_out_of_range"]),
        (21.0, -6.0, (21.0, None), ["ambient_out_of_range"]),  # SHT4x raw 0
        (-45.0, 119.0, (None, None), ["ambient_out_of_range", "ambient_out_of_range"]),
    ],
)
def test_ambient_issues(
    temp: float, rh: float, taken: tuple[float | None, float | None], types: list[str]
) -> None:
    t, h, notes = ambient_issues(temp, rh)
    assert (None if math.isnan(t) else t, None if math.isnan(h) else h) == taken
    assert [n["type"] for n in notes] == types
    assert all(n["field"] in ("temperature_c", "humidity_pct") and n["reason"] for n in notes)


def test_ambient_warnings_and_fill_hold_the_last_known_value_per_device() -> None:
    vals = np.array(
        [[400, 22, 40], [400, -45, 40], [400, 23, 104], [400, -45, 40], [400, 130, 40]],
        dtype=np.float64,
    )
    warned = ambient_warnings([0, 1, 2, 3, 4], vals)
    assert [w.index for w in warned] == [1, 2, 3, 4]
    ids = ["a", "a", "a", "b", "c"]
    ts = np.array([1.0, 2.0, 3.0, 1.0, 1.0])
    before = {"c": np.array([400, 18.5, 55], np.float32)}
    filled = fill_ambient(ids, ts, vals, before.get)
    assert np.isnan(vals[1, 1]) and np.isnan(vals[2, 2])  # left as the rules get it
    assert (
        filled[:, 1:].tolist()
        == [
            [22, 40],
            [22, 40],  # a: its previous reading's
            [23, 40],
            [*AMBIENT_UNKNOWN[:1], 40],  # b: none known before
            [18.5, 40],  # c: its newest stored reading's
        ]
    )
