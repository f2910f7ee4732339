"""(a) The design document's Python example, then read, search (with paging) and complete.

The first test is the seed's "Using Python Client" example as written there (connect, request
with json.dumps, json.loads, check success); only the URL and the promise id differ.
"""

from __future__ import annotations

import base64
import json

from nats.aio.client import Client as NATS

from helpers import call, err, ok, run, unique, with_nats


def test_seed_python_example_create_then_read(url: str) -> None:
    promise_id = unique("seed-example")
    printed = []

    async def main():
        # Connect to NATS
        nc = NATS()
        await nc.connect(url)

        # Create a promise request
        request = {
            "operation": "promises.create",
            "payload": {
                "id": promise_id,
                "timeout": 3600000,
                "param": {
                    "headers": {},
                    "data": None,
                },
            },
        }

        # Send request and wait for response
        response = await nc.request(
            "resonate.server",
            json.dumps(request).encode(),
            timeout=5,
        )

        # Parse response
        result = json.loads(response.data)

        if result["success"]:
            printed.append("Promise created successfully!")
            printed.append(f"Response: {result['response']}")
        else:
            printed.append(f"Error: {result['error']}")

        # ... and read it back the same way.
        read = await nc.request(
            "resonate.server",
            json.dumps({"operation": "promises.read", "payload": {"id": promise_id}}).encode(),
            timeout=5,
        )
        read_result = json.loads(read.data)

        await nc.close()
        return result, read_result

    result, read_result = run(main())
    assert printed[0] == "Promise created successfully!", printed
    created = ok(result, 201)
    assert created["id"] == promise_id
    assert created["state"] == "PENDING"
    # timeout 3600000 is below 10^12, so it is a duration from now.
    assert created["timeout"] == created["createdOn"] + 3600000
    assert created["param"] == {}

    read = ok(read_result, 200)
    assert read == created


def test_create_with_the_seed_cli_payload_and_tags(url: str) -> None:
    promise_id = unique("seed-cli")

    async def body(nc):
        created = await call(
            nc,
            "promises.create",
            {
                "id": promise_id,
                "timeout": 3600000,
                "param": {"headers": {}, "data": None},
                "tags": {"environment": "production"},
            },
            request_id="req-123",
        )
        assert created["requestId"] == "req-123"
        return ok(created, 201), ok(await call(nc, "promises.read", {"id": promise_id}), 200)

    created, read = with_nats(url, body)
    assert created["tags"] == {"environment": "production"}
    assert read["tags"] == {"environment": "production"}


def test_search_filters_states_tags_and_limit(url: str) -> None:
    prefix = unique("search")
    red = [f"{prefix}-red-{i}" for i in range(4)]
    blue = [f"{prefix}-blue-{i}" for i in range(3)]

    async def body(nc):
        for pid in red:
            ok(await call(nc, "promises.create", {"id": pid, "timeout": 3600000,
                                                  "tags": {"color": "red"}}), 201)
        for pid in blue:
            ok(await call(nc, "promises.create", {"id": pid, "timeout": 3600000,
                                                  "tags": {"color": "blue"}}), 201)
        # Resolve two reds.
        for pid in red[:2]:
            ok(await call(nc, "promises.complete", {"id": pid, "state": "RESOLVED"}), 201)

        async def search(payload):
            response = ok(await call(nc, "promises.search", payload), 200)
            return [p["id"] for p in response["promises"]], response.get("cursor")

        everything, cursor = await search(
            {"id": f"{prefix}-*", "states": ["PENDING", "RESOLVED"], "tags": {}, "limit": 10}
        )
        assert sorted(everything) == sorted(red + blue)
        assert cursor is None
        # Newest first.
        assert everything == list(reversed(red + blue))

        pending, _ = await search({"id": f"{prefix}-*", "states": ["PENDING"], "tags": {}})
        assert sorted(pending) == sorted(red[2:] + blue)

        resolved, _ = await search({"id": f"{prefix}-*", "states": ["RESOLVED"]})
        assert sorted(resolved) == sorted(red[:2])

        rejected, cursor = await search({"id": f"{prefix}-*", "states": ["REJECTED"]})
        assert rejected == [] and cursor is None

        reds, _ = await search({"id": f"{prefix}-*", "tags": {"color": "red"}})
        assert sorted(reds) == sorted(red)

        red_pending, _ = await search(
            {"id": f"{prefix}-*", "states": ["PENDING"], "tags": {"color": "red"}}
        )
        assert sorted(red_pending) == sorted(red[2:])

        limited, cursor = await search({"id": f"{prefix}-*", "limit": 3})
        assert len(limited) == 3 and isinstance(cursor, str) and cursor

        exact, _ = await search({"id": blue[0]})
        assert exact == [blue[0]]

    with_nats(url, body)


def test_search_pages_through_25_promises_with_the_cursor(url: str) -> None:
    prefix = unique("paging")
    ids = [f"{prefix}-{i:02d}" for i in range(25)]

    async def body(nc):
        for pid in ids:
            ok(await call(nc, "promises.create", {"id": pid, "timeout": 3600000,
                                                  "tags": {"suite": prefix}}), 201)
        seen = []
        page_sizes = []
        payload = {"id": f"{prefix}-*", "states": ["PENDING"], "tags": {"suite": prefix},
                   "limit": 10}
        for _ in range(10):  # bounded: 3 pages expected
            response = ok(await call(nc, "promises.search", payload), 200)
            page = [p["id"] for p in response["promises"]]
            page_sizes.append(len(page))
            seen.extend(page)
            cursor = response.get("cursor")
            if not cursor:
                break
            # The seed's search schema: the cursor goes in the payload next to the filters.
            payload = {"id": f"{prefix}-*", "states": ["PENDING"], "tags": {"suite": prefix},
                       "limit": 10, "cursor": cursor}
        return seen, page_sizes

    seen, page_sizes = with_nats(url, body)
    assert page_sizes == [10, 10, 5]
    assert len(seen) == len(set(seen)) == 25, seen
    assert set(seen) == set(ids)
    assert seen == list(reversed(ids))  # newest first across pages


def test_complete_resolved_round_trips_base64_data(url: str) -> None:
    promise_id = unique("complete")
    data = b'{"result": "success"}'
    encoded = base64.b64encode(data).decode()
    assert encoded == "eyJyZXN1bHQiOiAic3VjY2VzcyJ9"  # the seed's example value
    binary = bytes(range(256))

    async def body(nc):
        ok(await call(nc, "promises.create", {"id": promise_id, "timeout": 3600000,
                                              "param": {"headers": {}, "data": None}}), 201)
        completed = ok(
            await call(
                nc,
                "promises.complete",
                {
                    "id": promise_id,
                    "state": "RESOLVED",
                    "value": {"headers": {"content-type": "application/json"}, "data": encoded},
                },
            ),
            201,
        )
        read = ok(await call(nc, "promises.read", {"id": promise_id}), 200)

        # Arbitrary bytes (not UTF-8) survive too, in param and value.
        other = unique("complete-binary")
        b64 = base64.b64encode(binary).decode()
        created = ok(await call(nc, "promises.create", {"id": other, "timeout": 3600000,
                                                        "param": {"data": b64}}), 201)
        rejected = ok(await call(nc, "promises.complete",
                                 {"id": other, "state": "REJECTED", "value": {"data": b64}}), 201)
        return completed, read, created, rejected

    completed, read, created, rejected = with_nats(url, body)
    assert completed["state"] == "RESOLVED"
    assert completed["value"]["headers"] == {"content-type": "application/json"}
    assert base64.b64decode(completed["value"]["data"]) == data
    assert isinstance(completed["completedOn"], int)
    assert read == completed
    assert json.loads(base64.b64decode(read["value"]["data"])) == {"result": "success"}

    assert base64.b64decode(created["param"]["data"]) == binary
    assert rejected["state"] == "REJECTED"
    assert base64.b64decode(rejected["value"]["data"]) == binary


def test_read_of_a_missing_promise_is_404(url: str) -> None:
    missing = unique("missing")

    async def body(nc):
        return await call(nc, "promises.read", {"id": missing})

    message = err(with_nats(url, body), 404)
    assert missing in message
