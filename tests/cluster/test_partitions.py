"""Cluster mode's pure parts: the partition function, the message format, the settings."""

from __future__ import annotations

import binascii

import numpy as np
import pydantic
import pytest

from app.cluster.bus import decode, decode_many, encode, partition_of, subject
from app.config import Settings


def test_partition_is_crc32_of_the_id_and_stable() -> None:
    # Subjects and leases depend on this mapping: it must not change between versions or
    # processes (Python's hash() of a str changes per process). Values from binascii, an
    # independent CRC-32 implementation.
    for d in ("dev-000000", "kitchen-01", "sim-00", "ü-sensor"):
        assert partition_of(d, 16) == binascii.crc32(d.encode("utf-8")) % 16
    assert partition_of("kitchen-01", 16) == 12
    assert subject(12) == "gasleak.readings.12"


def test_partitions_spread_devices_evenly() -> None:
    counts = np.bincount([partition_of(f"dev-{i:06d}", 16) for i in range(16_000)], minlength=16)
    assert counts.min() > 850 and counts.max() < 1150  # 1,000 each, binomial sd ~31


def test_messages_round_trip_and_refuse_other_shapes() -> None:
    rows = [("a", 1_700_000_000.123, 420.5, 21.0, 45.0), ("b", 1_700_000_001.0, 0.0, -40.0, 100.0)]
    assert decode(encode(rows)) == rows
    for bad in (b"{}", b"[[1, 2]]", b"not json", b'[["a", 1, 2, 3]]'):
        with pytest.raises(ValueError):
            decode(bad)


def test_cluster_mode_needs_postgresql() -> None:
    with pytest.raises(pydantic.ValidationError, match="PostgreSQL"):
        Settings(cluster_nats_url="nats://127.0.0.1:4222")
    s = Settings(
        cluster_nats_url="nats://127.0.0.1:4222", database_url="postgresql+asyncpg://u@h/db"
    )
    assert s.cluster_partitions == 16
    assert Settings().cluster_nats_url is None  # one node is the default


def test_many_messages_decode_to_the_same_arrays_as_one_by_one() -> None:
    a = [("a", 1_700_000_000.5, 420.5, 21.0, 45.0), ("b", 1_700_000_001.0, 0.0, -40.0, 100.0)]
    b = [("a", 1_700_000_002.0, 425.0, 21.5, 44.0)]
    ids, ts, vals = decode_many([encode(a), encode([]), encode(b)])
    rows = decode(encode(a)) + decode(encode(b))
    assert ids == [r[0] for r in rows]
    assert ts.dtype == np.float64 and ts.tolist() == [r[1] for r in rows]
    assert vals.shape == (3, 3) and vals.tolist() == [list(r[2:]) for r in rows]
    ids, ts, vals = decode_many([])
    assert ids == [] and ts.shape == (0,) and vals.shape == (0, 3)


def test_many_messages_refuse_a_bad_one() -> None:
    good = encode([("a", 1.0, 2.0, 3.0, 4.0)])
    for bad in (b"{}", b"[[1, 2]]", b"not json", b'[["a", 1, 2, 3]]', b"[[1, 1, 2, 3, 4]]"):
        with pytest.raises(ValueError):
            decode_many([good, bad])


def test_an_unknown_temperature_crosses_the_stream_as_nan() -> None:
    """A reading accepted with its temperature unknown (NaN, ``ingest.ambient_warnings``)
    reaches its partition owner so, which holds the value and raises the probe's fault."""
    ids, ts, vals = decode_many([encode([("a", 1.0, 13_000.0, float("nan"), 45.0)])])
    assert ids == ["a"] and np.isnan(vals[0, 1]) and vals[0, 0] == 13_000.0
