"""(f) Two instances on one NATS: each request is answered exactly once (queue group).

A second `natsapi dev` is pointed at the session's NATS URL; something answers there, so it uses
that server instead of starting another. It runs only for this module and is stopped (SIGTERM,
exit 0) before the other tests go on. Each `natsapi dev` keeps promises in its own memory, so
the requests here are creates of fresh ids: whichever instance takes one answers 201.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Dict, Iterator, List

import pytest

from helpers import SUBJECT, NatsapiProcess, connect, run, unique

N_REQUESTS = 100


async def ping_all(url: str, subject: str = "$SRV.PING.natsapi", wait: float = 0.5) -> List[dict]:
    """Scatter-gather: every instance answers a $SRV request; collect for `wait` seconds."""
    nc = await connect(url)
    try:
        inbox = nc.new_inbox()
        replies: List[dict] = []

        async def on_reply(msg):
            replies.append(json.loads(msg.data))

        sub = await nc.subscribe(inbox, cb=on_reply)
        await nc.publish(subject, b"", reply=inbox)
        await nc.flush()
        await asyncio.sleep(wait)
        await sub.unsubscribe()
        return replies
    finally:
        await nc.close()


def wait_for_instances(url: str, count: int, timeout: float = 30.0) -> List[dict]:
    deadline = time.monotonic() + timeout
    pings: List[dict] = []
    while time.monotonic() < deadline:
        # INFO rather than PING: an instance counts once its API endpoint is registered.
        pings = run(ping_all(url, "$SRV.INFO.natsapi"))
        ready = {p["id"] for p in pings if SUBJECT in [e["subject"] for e in p["endpoints"]]}
        if len({p["id"] for p in pings}) == len(ready) == count:
            return pings
        time.sleep(0.2)
    raise AssertionError(f"expected {count} natsapi instances, $SRV.INFO found: {pings}")


@pytest.fixture
def second_instance(server, tmp_path) -> Iterator[NatsapiProcess]:
    first = wait_for_instances(server.url, 1)
    process = NatsapiProcess(server.url, tmp_path / "natsapi-2.log", name="second natsapi dev")
    process.start()
    try:
        process.wait_ready()
        wait_for_instances(server.url, 2)
    except BaseException:
        process.stop()
        raise
    yield process
    code = process.stop()
    assert code == 0, f"second natsapi dev exited {code} on SIGTERM:\n{process.log_text()}"
    # The first instance (and its nats-server) is still there and alone again.
    after = wait_for_instances(server.url, 1)
    assert after[0]["id"] == first[0]["id"]


async def stats_by_instance(url: str) -> Dict[str, int]:
    """Requests each instance's API endpoint has taken, from $SRV.STATS.natsapi."""
    stats = await ping_all(url, "$SRV.STATS.natsapi")
    return {s["id"]: sum(e["num_requests"] for e in s["endpoints"]) for s in stats}


def test_each_request_gets_exactly_one_reply(server, second_instance) -> None:
    prefix = unique("queue")

    async def main():
        before = await stats_by_instance(server.url)
        assert len(before) == 2, before
        nc = await connect(server.url)
        try:
            inbox = nc.new_inbox()
            replies: Dict[int, List[dict]] = {i: [] for i in range(N_REQUESTS)}
            all_in = asyncio.Event()

            async def on_reply(msg):
                index = int(msg.subject.rsplit(".", 1)[1])
                replies[index].append(json.loads(msg.data))
                if all(replies.values()):
                    all_in.set()

            sub = await nc.subscribe(f"{inbox}.*", cb=on_reply)
            await nc.flush()
            for i in range(N_REQUESTS):
                request = {"operation": "promises.create", "requestId": f"{prefix}-req-{i}",
                           "payload": {"id": f"{prefix}-{i}", "timeout": 3600000}}
                await nc.publish(SUBJECT, json.dumps(request).encode(), reply=f"{inbox}.{i}")
            await nc.flush()
            try:
                await asyncio.wait_for(all_in.wait(), timeout=30)
            except asyncio.TimeoutError:
                pass
            # Give any duplicate reply time to arrive before counting.
            await asyncio.sleep(1.0)
            await sub.unsubscribe()
        finally:
            await nc.close()
        after = await stats_by_instance(server.url)
        return replies, before, after

    replies, before, after = run(main())
    counts = {i: len(r) for i, r in replies.items()}
    missing = [i for i, c in counts.items() if c == 0]
    duplicated = {i: c for i, c in counts.items() if c > 1}
    assert not missing, f"requests without a reply: {missing}"
    assert not duplicated, f"requests with more than one reply: {duplicated}"
    for i, (reply,) in replies.items():
        assert reply["success"] is True and reply["status"] == 201, reply
        assert reply["requestId"] == f"{prefix}-req-{i}"
        assert reply["response"]["id"] == f"{prefix}-{i}"

    # Both instances took part, and together they took each request once.
    assert set(after) == set(before), (before, after)
    taken = {iid: after[iid] - before[iid] for iid in after}
    assert sum(taken.values()) == N_REQUESTS, taken
    assert all(n > 0 for n in taken.values()), f"one instance took every request: {taken}"
