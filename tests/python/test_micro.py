"""(e) The NATS micro-service protocol: `$SRV.PING/INFO/STATS` find the natsapi instances.

Replies are fetched with nats-py's plain request and, where nats-py ships it, parsed with
`nats.micro`'s own response classes (the schema a NATS tool expects).
"""

from __future__ import annotations

import json
import re

import pytest

from helpers import SUBJECT, call, unique, with_nats

try:  # nats.micro ships with nats-py >= 2.7
    from nats.micro.service import ServiceInfo, ServicePing, ServiceStats
except ImportError:  # pragma: no cover - older nats-py
    ServiceInfo = ServicePing = ServiceStats = None

# RFC 3339 in UTC with a fractional second, e.g. 2026-11-22T14:58:11.747523521Z.
STARTED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,9}Z")

needs_micro = pytest.mark.skipif(ServiceInfo is None, reason="nats.micro not available")


async def srv(nc, subject: str) -> dict:
    msg = await nc.request(subject, b"", timeout=5)
    return json.loads(msg.data)


def test_ping_answers(url: str) -> None:
    async def body(nc):
        return await srv(nc, "$SRV.PING.natsapi"), await srv(nc, "$SRV.PING")

    by_name, any_service = with_nats(url, body)
    for ping in (by_name, any_service):
        assert ping["type"] == "io.nats.micro.v1.ping_response", ping
        assert ping["name"] == "natsapi"
        assert isinstance(ping["id"], str) and ping["id"]
        assert isinstance(ping["version"], str) and ping["version"]
    assert by_name["id"] == any_service["id"]


def test_info_lists_the_api_endpoint(url: str) -> None:
    async def body(nc):
        info = await srv(nc, "$SRV.INFO.natsapi")
        by_id = await srv(nc, f"$SRV.INFO.natsapi.{info['id']}")
        return info, by_id

    info, by_id = with_nats(url, body)
    assert info["type"] == "io.nats.micro.v1.info_response", info
    assert info["name"] == "natsapi"
    assert info["description"]
    subjects = [e["subject"] for e in info["endpoints"]]
    assert subjects == [SUBJECT], info
    endpoint = info["endpoints"][0]
    assert endpoint["queue_group"], info  # instances share the subject in a queue group
    assert by_id == info


def test_stats_count_requests(url: str) -> None:
    async def body(nc):
        before = await srv(nc, "$SRV.STATS.natsapi")
        for _ in range(3):
            await call(nc, "promises.read", {"id": unique("stats-missing")})
        after = await srv(nc, "$SRV.STATS.natsapi")
        return before, after

    before, after = with_nats(url, body)
    assert after["type"] == "io.nats.micro.v1.stats_response", after
    assert after["id"] == before["id"]
    (b,) = before["endpoints"]
    (a,) = after["endpoints"]
    assert a["subject"] == SUBJECT
    assert a["num_requests"] - b["num_requests"] == 3, (before, after)


@needs_micro
def test_replies_parse_with_nats_micro_classes(url: str) -> None:
    async def body(nc):
        await call(nc, "promises.read", {"id": unique("m")})
        return (await srv(nc, "$SRV.PING.natsapi"), await srv(nc, "$SRV.INFO.natsapi"),
                await srv(nc, "$SRV.STATS.natsapi"))

    ping, info, stats = with_nats(url, body)
    parsed_ping = ServicePing.from_dict(ping)
    assert parsed_ping.name == "natsapi"
    parsed_info = ServiceInfo.from_dict(info)
    assert parsed_info.id == parsed_ping.id
    assert [e.subject for e in parsed_info.endpoints] == [SUBJECT]
    assert parsed_info.endpoints[0].name == "api"
    # Two nats-py 2.16 limitations, not the server's (Go's nats.go micro writes the same):
    # - `started` is RFC 3339 with nanoseconds; ServiceStats.from_dict parses it with strptime's
    #   %f, which takes at most 6 fractional digits, so give it microseconds;
    # - an endpoint's optional `data` is left out when there is none (`omitempty` in the ADR-32
    #   schema), but EndpointStats.from_dict reads data["data"], so add the null it means;
    # - likewise the stats response's optional `metadata` (not in the schema's required list).
    assert STARTED.fullmatch(stats["started"]), stats["started"]
    whole, fraction = stats["started"].rstrip("Z").split(".")
    stats = {
        "metadata": {},
        **stats,
        "started": f"{whole}.{fraction[:6].ljust(6, '0')}Z",
        "endpoints": [{"data": None, **e} for e in stats["endpoints"]],
    }
    parsed_stats = ServiceStats.from_dict(stats)
    assert parsed_stats.id == parsed_ping.id
    assert parsed_stats.endpoints[0].num_requests >= 1
