"""Webhook retry schedule and signature."""

from __future__ import annotations

import hashlib
import hmac

from app.services.webhooks import RetryPolicy, encode, sign


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    p = RetryPolicy(base_s=1.0, max_s=8.0)
    for attempts, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        delays = [p.delay(attempts) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not a fixed schedule


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = encode({"event_id": 1, "device_id": "ü"})
    assert body == '{"event_id":1,"device_id":"ü"}'.encode()
    want = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == f"sha256={want}"
    assert sign(b"other", body) != sign(b"k", body)
