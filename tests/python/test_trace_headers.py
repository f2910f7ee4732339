"""(d) W3C trace context sent as NATS headers comes back in the reply's headers."""

from __future__ import annotations

import json

from helpers import call, request_raw, unique, with_nats

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def envelope(operation: str, payload) -> bytes:
    return json.dumps({"operation": operation, "payload": payload}).encode()


def test_traceparent_and_tracestate_headers_are_echoed(url: str) -> None:
    promise_id = unique("trace")

    async def body(nc):
        headers = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
        created, created_msg = await request_raw(
            nc, envelope("promises.create", {"id": promise_id, "timeout": 3600000}), headers
        )
        missing, missing_msg = await request_raw(
            nc, envelope("promises.read", {"id": unique("missing")}), headers
        )
        bad, bad_msg = await request_raw(nc, b"not json", headers)
        return (created, created_msg.headers), (missing, missing_msg.headers), (bad, bad_msg.headers)

    results = with_nats(url, body)
    for reply, headers in results:
        assert headers is not None, reply
        assert headers.get("traceparent") == TRACEPARENT, (reply, headers)
        assert headers.get("tracestate") == TRACESTATE, (reply, headers)
    (created, _), (missing, _), (bad, _) = results
    assert created["status"] == 201
    assert missing["error"]["code"] == 404
    assert bad["error"]["code"] == 400


def test_traceparent_without_tracestate(url: str) -> None:
    async def body(nc):
        reply, msg = await request_raw(
            nc, envelope("promises.read", {"id": unique("missing")}), {"traceparent": TRACEPARENT}
        )
        return reply, msg.headers

    reply, headers = with_nats(url, body)
    assert reply["error"]["code"] == 404
    assert headers is not None and headers.get("traceparent") == TRACEPARENT
    assert "tracestate" not in headers


def test_no_trace_headers_when_none_were_sent(url: str) -> None:
    async def body(nc):
        reply, msg = await request_raw(nc, envelope("promises.read", {"id": unique("missing")}))
        return reply, msg.headers

    reply, headers = with_nats(url, body)
    assert reply["error"]["code"] == 404
    assert not (headers or {}).get("traceparent")
    assert not (headers or {}).get("tracestate")


def test_invalid_traceparent_is_not_propagated(url: str) -> None:
    async def body(nc):
        reply, msg = await request_raw(
            nc,
            envelope("promises.read", {"id": unique("missing")}),
            {"traceparent": "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
             "tracestate": TRACESTATE},
        )
        return reply, msg.headers

    reply, headers = with_nats(url, body)
    assert reply["error"]["code"] == 404
    assert not (headers or {}).get("traceparent")
    assert not (headers or {}).get("tracestate")


def test_trace_context_from_envelope_metadata_is_returned_as_headers(url: str) -> None:
    async def body(nc):
        data = json.dumps({
            "operation": "promises.read",
            "metadata": {"traceparent": TRACEPARENT, "tracestate": TRACESTATE},
            "payload": {"id": unique("missing")},
        }).encode()
        reply, msg = await request_raw(nc, data)
        return reply, msg.headers

    reply, headers = with_nats(url, body)
    assert reply["error"]["code"] == 404
    assert headers is not None
    assert headers.get("traceparent") == TRACEPARENT
    assert headers.get("tracestate") == TRACESTATE


def test_call_helper_passes_headers(url: str) -> None:
    # The same through the envelope helper used elsewhere, for a successful create.
    async def body(nc):
        return await call(nc, "promises.create", {"id": unique("trace-call"), "timeout": 1000},
                          headers={"traceparent": TRACEPARENT})

    assert with_nats(url, body)["status"] == 201
