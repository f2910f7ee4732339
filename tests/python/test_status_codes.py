"""(b) Status codes: 201 then 200 on an idempotent replay, 409, 404 and 403."""

from __future__ import annotations

from helpers import call, err, ok, unique, with_nats


def test_create_replay_with_the_same_idempotency_key_is_200(url: str) -> None:
    promise_id = unique("idem")
    key = unique("key")
    payload = {"id": promise_id, "idempotencyKey": key, "timeout": 3600000,
               "param": {"headers": {}, "data": None}}

    async def body(nc):
        first = await call(nc, "promises.create", payload)
        second = await call(nc, "promises.create", payload)
        other_key = await call(nc, "promises.create", {**payload, "idempotencyKey": unique("k")})
        return first, second, other_key

    first, second, other_key = with_nats(url, body)
    created = ok(first, 201)
    replayed = ok(second, 200)
    assert created["idempotencyKeyForCreate"] == key
    assert replayed == created
    assert promise_id in err(other_key, 409)


def test_create_of_an_existing_id_without_a_key_is_409(url: str) -> None:
    promise_id = unique("conflict")

    async def body(nc):
        first = await call(nc, "promises.create", {"id": promise_id, "timeout": 3600000})
        second = await call(nc, "promises.create", {"id": promise_id, "timeout": 3600000})
        return first, second

    first, second = with_nats(url, body)
    ok(first, 201)
    message = err(second, 409)
    assert promise_id in message and "exists" in message


def test_missing_promise_is_404_for_read_and_complete(url: str) -> None:
    missing = unique("missing")

    async def body(nc):
        read = await call(nc, "promises.read", {"id": missing})
        complete = await call(nc, "promises.complete", {"id": missing, "state": "RESOLVED"})
        return read, complete

    read, complete = with_nats(url, body)
    assert missing in err(read, 404)
    assert missing in err(complete, 404)


def test_completing_a_completed_promise_is_403(url: str) -> None:
    promise_id = unique("done")
    key = unique("ckey")

    async def body(nc):
        ok(await call(nc, "promises.create", {"id": promise_id, "timeout": 3600000}), 201)
        first = await call(nc, "promises.complete",
                           {"id": promise_id, "state": "RESOLVED", "idempotencyKey": key})
        replay = await call(nc, "promises.complete",
                            {"id": promise_id, "state": "RESOLVED", "idempotencyKey": key})
        no_key = await call(nc, "promises.complete", {"id": promise_id, "state": "RESOLVED"})
        reject = await call(nc, "promises.complete", {"id": promise_id, "state": "REJECTED"})
        read = await call(nc, "promises.read", {"id": promise_id})
        return first, replay, no_key, reject, read

    first, replay, no_key, reject, read = with_nats(url, body)
    completed = ok(first, 201)
    assert completed["state"] == "RESOLVED"
    assert ok(replay, 200) == completed
    assert "already resolved" in err(no_key, 403)
    assert "already resolved" in err(reject, 403)
    assert ok(read, 200)["state"] == "RESOLVED"


def test_each_completion_state_and_its_403(url: str) -> None:
    expectations = {
        "REJECTED": "already rejected",
        "REJECTED_CANCELED": "already canceled",
    }

    async def body(nc):
        results = {}
        for state in expectations:
            pid = unique(state.lower())
            ok(await call(nc, "promises.create", {"id": pid, "timeout": 3600000}), 201)
            done = ok(await call(nc, "promises.complete", {"id": pid, "state": state}), 201)
            again = await call(nc, "promises.complete", {"id": pid, "state": "RESOLVED"})
            results[state] = (done, again)
        return results

    for state, (done, again) in with_nats(url, body).items():
        assert done["state"] == state
        assert expectations[state] in err(again, 403)


def test_request_id_is_echoed_on_success_and_failure(url: str) -> None:
    promise_id = unique("rid")

    async def body(nc):
        good = await call(nc, "promises.create", {"id": promise_id, "timeout": 1000},
                          request_id="my-request-1")
        bad = await call(nc, "promises.read", {"id": unique("nope")}, request_id="my-request-2")
        generated = await call(nc, "promises.read", {"id": promise_id})
        return good, bad, generated

    good, bad, generated = with_nats(url, body)
    assert good["requestId"] == "my-request-1"
    assert bad["requestId"] == "my-request-2"
    ok(generated, 200)  # ok() checks a non-empty requestId was generated
