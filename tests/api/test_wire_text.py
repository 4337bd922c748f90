"""Alert events are encoded once for all of a hub's subscribers, in Starlette's
``send_json`` form."""

from __future__ import annotations

import json
from typing import Any

from app.services import hub as H


async def _nothing(*_: Any) -> list[dict[str, Any]]:
    return []


def test_an_event_is_encoded_once_in_send_json_form_and_the_cache_is_bounded() -> None:
    hub = H.Hub(queue_max=10, replay=_nothing)
    event = {"event_id": 7, "device_id": "ä-1", "detail": "gas 5 %LEL", "p": 0.5}
    text = hub.wire_text(event)
    assert text == json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    assert hub.wire_text(dict(event)) is text  # another subscriber: the same text
    other = H.Hub(queue_max=10, replay=_nothing)  # another app's store: its own ids
    assert json.loads(other.wire_text({"event_id": 7, "device_id": "b"}))["device_id"] == "b"
    for k in range(H.TEXTS_KEPT + 10):
        hub.wire_text({"event_id": 10_000 + k})
    assert len(hub._texts) == H.TEXTS_KEPT and 7 not in hub._texts
    assert json.loads(hub.wire_text({"type": "no id"})) == {"type": "no id"}
