"""One Resonate Python SDK (resonate-sdk 0.4.12) process, run by test_resonate_sdk.py.

The SDK runs background threads and calls `os._exit(1)` when the server answers a request with
400/401/403/404/409, so each SDK process is its own child of pytest, never pytest itself.

    python sdk_worker.py MODE GROUP ID_PREFIX ARG [COUNTER_FILE]

The server is `RESONATE_SERVER`, the poller `RESONATE_POLLER`. MODE:

- `flow`: runs the workflow of the SDK spec's §1.5 (`wf`: lfc(step) -> rfc(child) through the
  server to its own poll group -> sleep(1) -> return) as `ID_PREFIX`, with ARG as its input;
  prints `RESULT <json>`.
- `many`: runs ARG such workflows at once (ids `ID_PREFIX.<i>`), prints `RESULT <json list>`.
- `crash`: runs `crashwf` as `ID_PREFIX`: lfc(counted_step) -> sleep(ARG seconds) -> return.
  `counted_step` appends a line to COUNTER_FILE each time its body runs. Prints `SLEEPING`
  once the step is done (the parent kills it then) and `RESULT <json>` when done.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, Generator

from resonate import Context, Resonate
from resonate.stores import RemoteStore
from resonate.targets import poll
from resonate.task_sources import Poller

MODE, GROUP, ID, ARG = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
COUNTER_FILE = sys.argv[5] if len(sys.argv) > 5 else None

resonate = Resonate(
    store=RemoteStore(url=os.environ["RESONATE_SERVER"]),
    task_source=Poller(url=os.environ["RESONATE_POLLER"], group=GROUP),
)


def say(line: str) -> None:
    print(line, flush=True)


def step(ctx: Context, x: int) -> int:
    return x * 2


def child(ctx: Context, x: int) -> int:
    return x * 3


def wf(ctx: Context, x: int) -> Generator[Any, Any, dict]:
    a = yield ctx.lfc(step, x)
    b = yield ctx.rfc(child, a).options(send_to=poll(GROUP))
    yield ctx.sleep(1)
    return {"a": a, "b": b}


def counted_step(ctx: Context, x: int) -> int:
    assert COUNTER_FILE is not None
    with open(COUNTER_FILE, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return x * 2


def crashwf(ctx: Context, x: int) -> Generator[Any, Any, int]:
    a = yield ctx.lfc(counted_step, x)
    say("SLEEPING")
    yield ctx.sleep(int(ARG))
    return a + 10


resonate.register(step)
resonate.register(child)
resonate.register(wf)
resonate.register(counted_step)
resonate.register(crashwf)


def main() -> None:
    if MODE == "flow":
        result = resonate.run(ID, wf, int(ARG)).result(timeout=30)
        say("RESULT " + json.dumps(result))
    elif MODE == "many":
        handles = [resonate.run(f"{ID}.{i}", wf, i) for i in range(int(ARG))]
        say("RESULT " + json.dumps([h.result(timeout=40) for h in handles]))
    elif MODE == "crash":
        result = resonate.run(ID, crashwf, 5).result(timeout=40)
        say("RESULT " + json.dumps(result))
    else:
        raise SystemExit(f"unknown mode {MODE!r}")


if __name__ == "__main__":
    # Never hang the test: the SDK's threads are not daemons everywhere.
    threading.Timer(55, lambda: os._exit(3)).start()
    try:
        main()
    except BaseException as e:  # noqa: BLE001
        say(f"ERROR {type(e).__name__}: {e}")
        sys.stdout.flush()
        os._exit(2)
    sys.stdout.flush()
    os._exit(0)
