"""The official Resonate Python SDK (resonate-sdk==0.4.12) runs real workflows against natsapi.

A `natsapi dev` of its own (HTTP API and SSE poller on free ports, its own nats-server) serves
SDK processes started from sdk_worker.py: the validated flow of the SDK spec (§1.5: a local
durable step, a remote call through the server to a poll group, a durable sleep), 20 workflows
at once, and a crash test (a process is SIGKILLed mid-sleep; another process with another pid
in the same group finishes the workflow without running the completed step again).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from helpers import START_TIMEOUT, free_port, natsapi_bin, nats_server_bin, unique

WORKER = Path(__file__).resolve().parent / "sdk_worker.py"

pytest.importorskip("resonate", reason="resonate-sdk is not installed (tests/python/requirements.txt)")


class Sdk:
    def __init__(self, api: str, poller: str, log_dir: Path, credentials: Optional[str] = None):
        # `credentials` ("user:password") go into the SDK's URLs, where its HTTP client (requests)
        # reads them and sends Basic auth, on the store's calls and on the poller's stream.
        self.api = api
        self.poller = poller
        self.log_dir = log_dir
        self.credentials = credentials

    def sdk_url(self, url: str) -> str:
        if self.credentials is None:
            return url
        return url.replace("http://", f"http://{self.credentials}@", 1)

    def headers(self) -> dict:
        if self.credentials is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(self.credentials.encode()).decode()}

    def env(self) -> dict:
        env = dict(os.environ)
        env["RESONATE_SERVER"] = self.sdk_url(self.api)
        env["RESONATE_POLLER"] = self.sdk_url(self.poller)
        env.pop("RESONATE_GROUP", None)
        return env

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-u", str(WORKER), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=str(self.log_dir),
            text=True,
        )


def result_of(proc: subprocess.Popen, timeout: float) -> object:
    """Waits for the worker; returns the JSON after its `RESULT ` line."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"SDK worker did not finish within {timeout}s:\n{out}")
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"SDK worker exited {proc.returncode}:\n{out}"
    return json.loads(lines[-1][len("RESULT ") :])


def running_dev(log_dir: Path, credentials: Optional[str] = None) -> Iterator[Sdk]:
    """A `natsapi dev` (its HTTP API and poller on free ports) and an Sdk for it; with
    `credentials`, the server asks for them as Basic auth on both ports."""
    http_port, poll_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATSAPI_")}
    env["NATS_SERVER_BIN"] = str(nats_server_bin())
    extra: List[str] = []
    if credentials is not None:
        user, password = credentials.split(":", 1)
        config = log_dir / "natsapi.yaml"
        config.write_text(
            "api:\n  subsystems:\n    http:\n      auth:\n        basic:\n"
            f"          username: {json.dumps(user)}\n          password: {json.dumps(password)}\n"
        )
        extra = ["--config", str(config)]
    log = open(log_dir / "natsapi.log", "wb")
    proc = subprocess.Popen(
        [
            str(natsapi_bin()),
            "dev",
            "--api-nats-addr",
            f"nats://127.0.0.1:{free_port()}",
            "--api-http-addr",
            f"127.0.0.1:{http_port}",
            "--poll-addr",
            f"127.0.0.1:{poll_port}",
            "--ingest-addr",
            "127.0.0.1:0",
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(log_dir),
        start_new_session=True,
    )

    def log_text() -> str:
        return (log_dir / "natsapi.log").read_text(errors="replace")

    sdk = Sdk(f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{poll_port}", log_dir, credentials)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"natsapi dev exited {proc.returncode}:\n{log_text()}")
        try:
            probe = urllib.request.Request(
                f"{sdk.api}/promises/{unique('probe')}", headers=sdk.headers()
            )
            urllib.request.urlopen(probe, timeout=1)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"natsapi dev did not answer over HTTP:\n{log_text()}")
        time.sleep(0.2)
    try:
        yield sdk
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            code = None
        log.close()
        assert code == 0, f"natsapi dev exited {code} on SIGTERM:\n{log_text()}"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sdk]:
    yield from running_dev(tmp_path_factory.mktemp("resonate-sdk"))


@pytest.fixture(scope="module")
def sdk_with_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sdk]:
    yield from running_dev(tmp_path_factory.mktemp("resonate-sdk-auth"), "ops:s3cret")


def read_promise(sdk: Sdk, id: str) -> dict:
    request = urllib.request.Request(f"{sdk.api}/promises/{id}", headers=sdk.headers())
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def test_validated_flow(sdk: Sdk) -> None:
    """run(wf) -> lfc(step) -> rfc(child) to a poll group -> sleep(1) -> return."""
    id = unique("sdk-flow")
    proc = sdk.start("flow", unique("g"), id, "3")
    assert result_of(proc, 40) == {"a": 6, "b": 18}
    assert read_promise(sdk, id)["state"] == "RESOLVED"
    assert read_promise(sdk, f"{id}.2")["state"] == "RESOLVED"
    assert read_promise(sdk, f"{id}.3")["state"] == "RESOLVED"


def test_validated_flow_with_credentials(sdk_with_credentials: Sdk) -> None:
    """With Basic auth on, both ports refuse a client without the credentials, and the SDK,
    given them in its URLs, runs the whole flow (store calls and the poller's stream)."""
    sdk = sdk_with_credentials
    for url in (f"{sdk.api}/promises/{unique('nobody')}", f"{sdk.poller}/g/p"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401, url
    id = unique("sdk-auth")
    proc = sdk.start("flow", unique("g"), id, "3")
    assert result_of(proc, 40) == {"a": 6, "b": 18}
    assert read_promise(sdk, id)["state"] == "RESOLVED"


def test_many_workflows_at_once(sdk: Sdk) -> None:
    id = unique("sdk-many")
    n = 20
    proc = sdk.start("many", unique("g"), id, str(n))
    assert result_of(proc, 50) == [{"a": 2 * i, "b": 6 * i} for i in range(n)]


@pytest.mark.parametrize(
    "sleep_secs,restart_after",
    [
        # The new process connects before the sleep ends: the resume goes to it.
        (4, 0.0),
        # The sleep ends while no process of the group is connected: the resume is sent again.
        (1, 2.5),
    ],
    ids=["restart-mid-sleep", "restart-after-sleep"],
)
def test_crash_and_recover_in_another_process(
    sdk: Sdk, tmp_path: Path, sleep_secs: int, restart_after: float
) -> None:
    id = unique("sdk-crash")
    group = unique("g")
    counter = tmp_path / "step-runs.txt"
    first = sdk.start("crash", group, id, str(sleep_secs), str(counter))
    out: List[str] = []
    deadline = time.monotonic() + 30
    assert first.stdout is not None
    while time.monotonic() < deadline:
        line = first.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.strip() == "SLEEPING":
            break
    assert out and out[-1].strip() == "SLEEPING", "first process never slept:\n" + "".join(out)
    # Let the sleep promise and its callback reach the server, then die mid-sleep.
    sleep_id = f"{id}.2"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if read_promise(sdk, sleep_id)["state"] == "PENDING":
                break
        except urllib.error.HTTPError:
            pass
        time.sleep(0.05)
    first.kill()
    first.wait(timeout=10)
    assert read_promise(sdk, id)["state"] == "PENDING"
    runs_before = counter.read_text().splitlines()
    assert runs_before == [str(first.pid)]

    time.sleep(restart_after)
    started = time.monotonic()
    second = sdk.start("crash", group, id, str(sleep_secs), str(counter))
    assert result_of(second, 40) == 20
    print(f"recovered in {time.monotonic() - started:.1f}s")
    assert counter.read_text().splitlines() == runs_before, "the completed step ran again"
    assert read_promise(sdk, id)["state"] == "RESOLVED"
