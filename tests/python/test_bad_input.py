"""(c) Bad input always gets a reply: success false, code 400, a message naming the problem."""

from __future__ import annotations

import json

import pytest

from helpers import call, err, request_raw, unique, with_nats

RAW_CASES = [
    pytest.param(b"this is not json", ["invalid request envelope"], id="not-json"),
    pytest.param(b"{\"operation\": \"promises.read\", ", ["invalid request envelope"],
                 id="truncated-json"),
    pytest.param(b"\xff\xfe\xfd", ["UTF-8"], id="invalid-utf8"),
    pytest.param(b'{"operation": "promises.read", "payload": {"id": "\xc3\x28"}}', ["UTF-8"],
                 id="invalid-utf8-inside-json"),
    pytest.param(b"", ["empty"], id="empty"),
    pytest.param(b"   \n", ["empty"], id="blank"),
    pytest.param(b"[1, 2, 3]", ["invalid request envelope"], id="json-array"),
    pytest.param(b'"promises.read"', ["invalid request envelope"], id="json-string"),
    pytest.param(b'{"payload": {"id": "x"}}', ["operation"], id="missing-operation"),
]


@pytest.mark.parametrize("data, needles", RAW_CASES)
def test_malformed_requests_are_400(url: str, data: bytes, needles) -> None:
    async def body(nc):
        reply, _ = await request_raw(nc, data)
        return reply

    message = err(with_nats(url, body), 400)
    for needle in needles:
        assert needle.lower() in message.lower(), message


def test_unknown_operation_is_400_and_lists_the_known_ones(url: str) -> None:
    async def body(nc):
        return await call(nc, "promises.frobnicate", {"id": "x"}, request_id="rid-unknown")

    reply = with_nats(url, body)
    message = err(reply, 400)
    assert reply["requestId"] == "rid-unknown"
    assert "promises.frobnicate" in message and "unknown operation" in message
    for known in ("promises.read", "promises.create", "promises.search", "promises.complete"):
        assert known in message, message


WRONG_TYPES = [
    # (operation, payload, words the message must contain)
    pytest.param(5, {"id": "x"}, ["operation"], id="operation-number"),
    pytest.param("promises.read", None, ["payload"], id="payload-null"),
    pytest.param("promises.read", [], ["payload"], id="payload-array"),
    pytest.param("promises.read", {}, ["id"], id="read-missing-id"),
    pytest.param("promises.read", {"id": 42}, ["id"], id="read-id-number"),
    pytest.param("promises.read", {"id": ""}, ["id"], id="read-id-empty"),
    pytest.param("promises.create", {"id": "x", "timeout": "soon"}, ["timeout"],
                 id="create-timeout-string"),
    pytest.param("promises.create", {"id": "x", "timeout": -1}, ["timeout"],
                 id="create-timeout-negative"),
    pytest.param("promises.create", {"id": "x", "timeout": 1, "tags": {"a": 1}}, ["tags"],
                 id="create-tag-value-number"),
    pytest.param("promises.create", {"id": "x", "timeout": 1, "param": {"data": "!!!"}},
                 ["base64"], id="create-data-not-base64"),
    pytest.param("promises.create", {"id": "x", "timeout": 1, "strict": "yes"}, ["strict"],
                 id="create-strict-string"),
    pytest.param("promises.create", {"id": "x", "param": {"data": "aGk="}}, ["timeout"],
                 id="create-missing-timeout"),
    pytest.param("promises.complete", {"id": "x", "state": "DONE"}, ["state"],
                 id="complete-unknown-state"),
    pytest.param("promises.complete", {"id": "x"}, ["state"], id="complete-missing-state"),
    pytest.param("promises.complete", {"id": "x", "state": "PENDING"}, ["state"],
                 id="complete-pending"),
    pytest.param("promises.search", {"id": "*", "states": ["BOGUS"]}, ["states"],
                 id="search-unknown-state"),
    pytest.param("promises.search", {"id": "*", "limit": "ten"}, ["limit"],
                 id="search-limit-string"),
    pytest.param("promises.search", {"id": "*", "limit": 0}, ["limit"], id="search-limit-0"),
    pytest.param("promises.search", {"id": "*", "limit": 101}, ["limit"],
                 id="search-limit-101"),
    pytest.param("promises.search", {"id": "*", "cursor": "not-a-cursor"}, ["cursor"],
                 id="search-bad-cursor"),
]


@pytest.mark.parametrize("operation, payload, needles", WRONG_TYPES)
def test_wrong_types_are_400_naming_the_field(url: str, operation, payload, needles) -> None:
    async def body(nc):
        return await call(nc, operation, payload)

    message = err(with_nats(url, body), 400)
    for needle in needles:
        assert needle.lower() in message.lower(), message


def test_missing_payload_is_400(url: str) -> None:
    async def body(nc):
        return await call(nc, "promises.read", omit_payload=True)

    assert "payload" in err(with_nats(url, body), 400)


def test_metadata_with_a_non_string_value_is_400(url: str) -> None:
    async def body(nc):
        return await call(nc, "promises.read", {"id": "x"}, metadata={"traceparent": 1})

    assert "metadata" in err(with_nats(url, body), 400)


def test_the_server_still_works_after_bad_input(url: str) -> None:
    promise_id = unique("after-bad")

    async def body(nc):
        for data in (b"\x00\x01", b"{", b"\xff"):
            reply, _ = await request_raw(nc, data)
            err(reply, 400)
        reply, _ = await request_raw(
            nc, json.dumps({"operation": "promises.create",
                            "payload": {"id": promise_id, "timeout": 3600000}}).encode())
        return reply

    reply = with_nats(url, body)
    assert reply["success"] is True and reply["status"] == 201
