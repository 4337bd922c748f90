"""Ingestion: readings by HTTP POST and by WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from app.deps import StateDep
from app.errors import InvalidBody
from app.schemas.readings import IngestResult, Reading

router = APIRouter(tags=["readings"])

_ONE = Reading.model_json_schema()
_BODY_SCHEMA = {
    "anyOf": [_ONE, {"type": "array", "items": _ONE, "maxItems": 10_000, "title": "Batch"}]
}


@router.post(
    "/api/readings",
    response_model=IngestResult,
    summary="Send one reading or an array of up to 10,000",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
    },
    responses={422: {"description": "Not readings at all, or a single invalid reading"}},
)
async def post_readings(request: Request, state: StateDep) -> IngestResult:
    """Store readings; good readings of a batch are kept when others are rejected."""
    return await state.ingestor.ingest_raw(await request.body())


@router.websocket("/ws/readings")
async def ws_readings(ws: WebSocket, state: StateDep) -> None:
    """One reading or an array per text frame; each frame gets an IngestResult reply."""
    await ws.accept()
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            raw = msg.get("text") if msg.get("text") is not None else msg.get("bytes", b"")
            try:
                result = await state.ingestor.ingest_raw(raw)
            except InvalidBody as exc:
                await ws.send_json({"error": exc.error, "detail": exc.detail})
                continue
            await ws.send_text(result.model_dump_json())
    except WebSocketDisconnect:
        return
