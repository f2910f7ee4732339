"""GET /openapi.json: a valid OpenAPI document that real HTTP exchanges conform to.

The document is checked with openapi-spec-validator; then real requests to the running
`natsapi dev` and its real answers are validated against it with openapi-core (parameters, bodies,
status codes and response schemas), for promises, tasks, schedules, locks and an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Tuple

import pytest
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from conftest import Server
from helpers import unique

FAR = 4_102_444_800_000  # 2100-01-01, epoch ms


def fetch(base: str, method: str, path: str, query: Optional[Dict[str, str]] = None,
          body: Any = None, headers: Optional[Dict[str, str]] = None
          ) -> Tuple[int, Dict[str, str], bytes]:
    """One real HTTP exchange: status, response headers and body."""
    url = base + path
    if query:
        url += "?" + "&".join(f"{k}={urllib.request.quote(v)}" for k, v in query.items())
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Checked:
    """Sends requests to the server and validates each exchange against the document."""

    def __init__(self, base: str, spec: OpenAPI):
        self.base = base
        self.spec = spec

    def __call__(self, method: str, path: str, status: int, *, query=None, body=None,
                 headers=None, valid_request: bool = True) -> Any:
        """Sends the request; checks the status, that the document accepts the request (or
        refuses it, for `valid_request=False`) and that it accepts the response."""
        code, response_headers, raw = fetch(self.base, method, path, query, body, headers)
        assert code == status, f"{method} {path}: {code} {raw!r}"
        request = MockRequest(
            self.base, method, path, args=query, headers=headers,
            data=None if body is None else json.dumps(body).encode(),
        )
        if valid_request:
            self.spec.validate_request(request)
        else:
            with pytest.raises(OpenAPIError):
                self.spec.validate_request(request)
        content_type = response_headers.get("content-type", "application/json")
        response = MockResponse(raw, status_code=code, headers=response_headers,
                                content_type=content_type)
        self.spec.validate_response(request, response)
        return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def document(server: Server) -> Dict[str, Any]:
    status, headers, raw = fetch(server.process.http_url(), "GET", "/openapi.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    return json.loads(raw)


@pytest.fixture(scope="module")
def checked(server: Server, document: Dict[str, Any]) -> Checked:
    return Checked(server.process.http_url(), OpenAPI.from_dict(document))


def test_the_document_is_valid_openapi_3_1(document: Dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert not [p for p in document["paths"] if "{*" in p]


def test_promise_exchanges_conform(checked: Checked) -> None:
    pid = unique("oa-p")
    created = checked("POST", "/promises", 201,
                      body={"id": pid, "timeout": FAR, "param": {"data": "aGk="},
                            "tags": {"kind": "openapi"}},
                      headers={"Idempotency-Key": "k1", "Strict": "true"})
    assert created["id"] == pid
    checked("POST", "/promises", 200, body={"id": pid, "timeout": FAR},
            headers={"Idempotency-Key": "k1"})
    checked("GET", f"/promises/{pid}", 200, headers={"request-id": "r-1"})
    page = checked("GET", "/promises", 200, query={"id": pid, "state": "pending", "limit": "5"})
    assert [p["id"] for p in page["promises"]] == [pid]
    checked("GET", "/promises", 200, query={"id": pid, "tags[kind]": "openapi"})
    done = checked("PATCH", f"/promises/{pid}", 201,
                   body={"state": "RESOLVED", "value": {"headers": {"h": "v"}, "data": "aGk="}},
                   headers={"Idempotency-Key": "c1"})
    assert done["state"] == "RESOLVED"
    checked("PATCH", f"/promises/{pid}", 403, body={"state": "REJECTED"})


def test_task_exchanges_conform(checked: Checked) -> None:
    root = unique("oa-root")
    both = checked("POST", "/promises/task", 201,
                   body={"promise": {"id": root, "timeout": FAR,
                                     "tags": {"resonate:invoke": "poll://any@openapi"}},
                         "task": {"processId": "w1", "ttl": 60000}})
    task = both["task"]
    leaf = unique("oa-leaf")
    checked("POST", "/promises", 201, body={"id": leaf, "timeout": FAR})
    registered = checked("POST", f"/promises/callback/{leaf}", 201,
                         body={"rootPromiseId": root, "recv": "poll://any@openapi"})
    checked("POST", f"/promises/subscribe/{leaf}", 201,
            body={"id": "s1", "recv": "poll://any@openapi"})
    checked("PATCH", f"/promises/{leaf}", 201, body={"state": "RESOLVED"})
    claimed = checked("POST", "/tasks/claim", 201,
                      body={"id": registered["callback"]["id"], "counter": 1,
                            "processId": "w1", "ttl": 60000})
    assert claimed["type"] == "resume" and "leaf" in claimed["promises"]
    checked("POST", "/tasks/claim", 403,
            body={"id": task["id"], "counter": 1, "processId": "w2", "ttl": 60000})
    beat = checked("POST", "/tasks/heartbeat", 200, body={"processId": "w1"})
    assert beat["tasksAffected"] == 2
    checked("POST", "/tasks/complete", 201, body={"id": task["id"], "counter": 1})
    checked("POST", "/tasks/drop", 201,
            body={"id": registered["callback"]["id"], "counter": 1})


def test_schedule_exchanges_conform(checked: Checked) -> None:
    sid = unique("oa-s")
    checked("POST", "/schedules", 201,
            body={"id": sid, "desc": "nightly", "cron": "@daily", "tags": {"a": "b"},
                  "promiseId": sid + "-{{.timestamp}}", "promiseTimeout": 60000},
            headers={"Idempotency-Key": "s1"})
    checked("GET", f"/schedules/{sid}", 200)
    page = checked("GET", "/schedules", 200, query={"id": sid})
    assert [s["id"] for s in page["schedules"]] == [sid]
    checked("DELETE", f"/schedules/{sid}", 204)
    checked("GET", f"/schedules/{sid}", 404)


def test_lock_exchanges_conform(checked: Checked) -> None:
    resource = unique("oa-r")
    checked("POST", "/locks/acquire", 201,
            body={"resourceId": resource, "executionId": "e1", "processId": "w1",
                  "ttl": 60000})
    checked("POST", "/locks/acquire", 403,
            body={"resourceId": resource, "executionId": "e2", "processId": "w2",
                  "ttl": 60000})
    checked("POST", "/locks/heartbeat", 200, body={"processId": "w1"})
    checked("POST", "/locks/release", 204, body={"resourceId": resource, "executionId": "e1"})
    checked("POST", "/locks/release", 404, body={"resourceId": resource, "executionId": "e1"})


def test_error_exchanges_conform(checked: Checked) -> None:
    checked("GET", f"/promises/{unique('oa-missing')}", 404)
    # The document refuses this request too; the 400 it gets is still a documented answer.
    checked("POST", "/promises", 400, body={"id": unique("oa-bad"), "timeout": "soon"},
            valid_request=False)
    checked("GET", "/health", 200)
