"""The ingest gateway and worker of `natsapi dev`, through clients we did not write.

Plain HTTP (urllib) posts messages and batches and follows their status to `processed`; nats-py
publishes a message that is not an envelope straight into the stream, reads it back from the
dead-letter stream with the reason in its headers, and checks that the message stream is a work
queue.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional, Tuple

import nats
import pytest

from conftest import Server


def post(base: str, path: str, body: str,
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, Any]]:
    request = urllib.request.Request(base + path, data=body.encode(), method="POST",
                                     headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(base: str, path: str) -> Tuple[int, Dict[str, Any]]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_status(base: str, message_id: str, want: str) -> Dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        code, status = get(base, f"/ingest/status/{message_id}")
        assert code == 200, status
        if status["status"] == want:
            return status
        assert time.monotonic() < deadline, f"{message_id} never reached {want}: {status}"
        time.sleep(0.05)


@pytest.fixture
def ingest(server: Server) -> str:
    return server.process.ingest_url()


def test_a_message_is_accepted_then_processed(ingest: str) -> None:
    code, reply = post(ingest, "/ingest/message", json.dumps({"entity_type": "py", "n": 1}))
    assert code == 202, reply
    assert reply["status"] == "accepted"
    assert uuid.UUID(reply["message_id"]).version == 7
    status = wait_status(ingest, reply["message_id"], "processed")
    assert status["entity_type"] == "py"
    assert status["attempts"] == 1


def test_a_batch_reports_bad_lines_and_stores_the_rest(ingest: str) -> None:
    body = '{"a":1}\n{oops\n{"a":2}\n'
    code, reply = post(ingest, "/ingest/batch", body, {"Idempotency-Key": str(uuid.uuid4())})
    assert code == 202, reply
    assert (reply["processed"], reply["inserted"], reply["failed"]) == (3, 2, 1)
    assert [e["line"] for e in reply["errors"]] == [2]
    for stored in reply["messages"]:
        wait_status(ingest, stored["message_id"], "processed")


def test_the_same_key_with_another_message_is_refused(ingest: str) -> None:
    key = {"Idempotency-Key": f"py-{uuid.uuid4()}"}
    code, first = post(ingest, "/ingest/message", json.dumps({"a": 1, "b": 2}), key)
    assert code == 202, first
    code, other = post(ingest, "/ingest/message", json.dumps({"a": 1, "b": 3}), key)
    assert code == 422, other
    assert other["error"]["code"] == 42200
    assert first["message_id"] in other["error"]["message"]
    # The same message, its keys in another order: a replay.
    code, again = post(ingest, "/ingest/message", json.dumps({"b": 2, "a": 1}), key)
    assert code == 202, again
    assert again["duplicate"] is True and again["message_id"] == first["message_id"]


def test_bad_input_and_unknown_ids(ingest: str) -> None:
    code, reply = post(ingest, "/ingest/message", "not json")
    assert code == 400 and "not JSON" in reply["error"]["message"]
    code, _ = get(ingest, f"/ingest/status/{uuid.uuid4()}")
    assert code == 404
    code, _ = get(ingest, "/ingest/status/12345")
    assert code == 400
    code, health = get(ingest, "/health")
    assert code == 200 and health["status"] == "ok", health
    assert health["checks"] == {"nats": "ok", "store": "ok"}


def test_garbage_in_the_stream_is_dead_lettered_with_its_reason(
        server: Server, ingest: str) -> None:
    async def check() -> None:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            # Garbage straight into the stream: the worker cannot read it and dead-letters it.
            await js.publish("messages.ingest.default", b"not an envelope")
            deadline = time.monotonic() + 15
            while True:
                try:
                    msg = await js.get_last_msg("MESSAGES_DLQ", "messages.dlq.unreadable")
                    assert msg.data == b"not an envelope"
                    assert "envelope" in msg.headers["Natsapi-Error"]
                    break
                except nats.js.errors.NotFoundError:
                    assert time.monotonic() < deadline, "never dead-lettered"
                    await asyncio.sleep(0.05)
            info = await js.stream_info("MESSAGES")
            assert str(getattr(info.config.retention, "value", info.config.retention)) == "workqueue"
        finally:
            await nc.close()

    asyncio.run(check())
