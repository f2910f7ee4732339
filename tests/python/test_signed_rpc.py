"""Signed RPC calls (`POST /op`, `POST /query`, `GET /clusterizer`) of `natsapi dev`'s ingest
gateway, cross-checked with secp256k1, MessagePack and Keccak-256 implementations we did not
write (see rpc_wire.py): calls signed by coincurve are accepted under the wallet Python computes
and applied by the worker; a high-s twin made here is refused; the node's signed answers and
`natsapi sign`'s output verify in Python.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import coincurve
import msgpack
import pytest

import rpc_wire
from conftest import Server
from helpers import natsapi_bin
from rpc_wire import MSGPACK_TYPE, Key

Answer = Tuple[int, Dict[str, str], bytes]


def http(base: str, path: str, body: Optional[bytes] = None,
         headers: Optional[Dict[str, str]] = None) -> Answer:
    """One request; returns the status, the headers (names in lower case) and the body."""
    request = urllib.request.Request(base + path, data=body, headers=dict(headers or {}),
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, lower(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, lower(e.headers), e.read()


def lower(headers: Any) -> Dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def new_track() -> int:
    """A track no other test (or earlier run) writes to; above 2**32, so MessagePack needs 64
    bits for it."""
    return random.randrange(2**33, 2**53)


def add_call(comment_id: str, track_id: int, comment: str,
             position_ms: int = 3125) -> Dict[str, Any]:
    params = {"comment_id": comment_id, "track_id": track_id, "position_ms": position_ms,
              "comment": comment}
    return rpc_wire.call(f"track_comment.add.{comment_id}", "track_comment.add", params, now_ms())


def post_msgpack(base: str, body: bytes, path: str = "/op",
                 extra: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, Any]]:
    code, _, raw = http(base, path, body, {"content-type": MSGPACK_TYPE, **(extra or {})})
    return code, json.loads(raw)


def post_json(base: str, body: bytes, x_sig: str, path: str = "/op",
              extra: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, Any]]:
    headers = {"content-type": "application/json", "x-sig": x_sig, **(extra or {})}
    code, _, raw = http(base, path, body, headers)
    return code, json.loads(raw)


def accepted(code: int, answer: Dict[str, Any], the_call: Dict[str, Any], wallet: str) -> None:
    """Asserts the 202 of a first call."""
    assert code == 202, answer
    assert answer["id"] == the_call["id"], answer
    assert answer["wallet"] == wallet, answer
    assert answer["method"] == the_call["method"], answer
    assert answer["status"] == "accepted" and answer["duplicate"] is False, answer
    assert isinstance(answer["stream_sequence"], int) and answer["stream_sequence"] > 0, answer


def wait_call(base: str, wallet: str, call_id: str, want: str = "applied") -> Dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        code, _, raw = http(base, f"/op/status/{wallet}/{call_id}")
        status = json.loads(raw)
        assert code == 200, status
        if status["status"] == want:
            return status
        assert status["status"] not in ("dead_lettered",), status
        assert time.monotonic() < deadline, f"{call_id} never reached {want}: {status}"
        time.sleep(0.05)


@pytest.fixture
def ingest(server: Server) -> str:
    return server.process.ingest_url()


@pytest.fixture
def node(ingest: str) -> Dict[str, Any]:
    """GET /clusterizer, its three names of the node key checked against each other."""
    code, _, raw = http(ingest, "/clusterizer")
    assert code == 200, raw
    identity = json.loads(raw)
    public = bytes.fromhex(identity["publicKeyHex"])
    assert len(public) == 65 and public[0] == 4, identity
    assert base64.b64decode(identity["publicKey"], validate=True) == public, identity
    assert rpc_wire.wallet_of(coincurve.PublicKey(public)) == identity["wallet"], identity
    return identity


# (a) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("der,path", [(False, "/op"), (True, "/clusterizer/op")],
                         ids=["compact", "der"])
def test_an_envelope_signed_by_libsecp256k1_is_applied_under_the_wallet_python_computes(
        ingest: str, der: bool, path: str) -> None:
    key = Key.generate()
    the_call = add_call(new_id("c"), new_track(), "sick drop — ünïcödé 🎧")
    body = key.signed_msgpack(the_call, der=der)
    # What we send is what we meant: the envelope opens, here, to our wallet.
    opened = rpc_wire.open_envelope(body)
    assert opened.wallet == key.wallet
    signature = msgpack.unpackb(body)[2]
    assert signature[0] == 0x30 if der else len(signature) == 64, signature.hex()

    code, answer = post_msgpack(ingest, body, path, {"x-wallet": key.wallet})
    accepted(code, answer, the_call, key.wallet)
    status = wait_call(ingest, key.wallet, the_call["id"])
    assert status["method"] == "track_comment.add", status
    assert status["stream_sequence"] == answer["stream_sequence"], status

    # Sent again: the same call, once.
    code, again = post_msgpack(ingest, body, path)
    assert code == 202 and again["duplicate"] is True, again
    assert again["wallet"] == key.wallet, again


def call_whose_signature(key: Key, shape) -> Dict[str, Any]:
    """A fresh call whose SHA-256 signature by `key` has (r, s) of the given shape (found by
    trying new ids; each shape below turns up once in 2 to 256 signatures)."""
    for _ in range(20000):
        the_call = add_call(new_id("shape"), new_track(), "shaped")
        compact, _ = key.sign_recoverable(rpc_wire.sha256(msgpack.packb(the_call)))
        if shape(*rpc_wire.split_compact(compact)):
            return the_call
    raise AssertionError("no signature of that shape in 20000 tries")


SHAPES = {
    # r or s below 2**248: a leading zero byte in the compact form, a shorter INTEGER in DER.
    "short-r": lambda r, s: r < 2**248,
    "short-s": lambda r, s: s < 2**248,
    # The top bit of r set: DER needs a 0x00 before it (33-byte INTEGER).
    "padded-r": lambda r, s: r >= 2**255,
}


@pytest.mark.parametrize("der", [False, True], ids=["compact", "der"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_signatures_of_every_encoded_length_are_accepted(
        ingest: str, shape: str, der: bool) -> None:
    key = Key.generate()
    the_call = call_whose_signature(key, SHAPES[shape])
    body = key.signed_msgpack(the_call, der=der)
    signature = msgpack.unpackb(body)[2]
    compact = rpc_wire.der_to_compact(signature) if der else signature
    assert SHAPES[shape](*rpc_wire.split_compact(compact)), signature.hex()
    code, answer = post_msgpack(ingest, body, extra={"x-wallet": key.wallet})
    accepted(code, answer, the_call, key.wallet)


# (b) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("v_offset", [0, 27], ids=["v=0/1", "v=27/28"])
def test_a_json_call_with_an_x_sig_made_in_python_is_applied(ingest: str, v_offset: int) -> None:
    key = Key.generate()
    track = new_track()
    first = add_call(new_id("c"), track, "first")
    body, _ = key.signed_json(first)
    code, answer = post_json(ingest, body, key.x_sig(body, v_offset))
    accepted(code, answer, first, key.wallet)
    wait_call(ingest, key.wallet, first["id"])

    # The signature covers the exact bytes, whatever their layout.
    edit = rpc_wire.call(new_id("e"), "track_comment.update",
                         {"comment_id": first["params"]["comment_id"], "comment": "édité"},
                         now_ms())
    pretty = json.dumps(edit, indent=2, ensure_ascii=False).encode() + b"\n"
    code, answer = post_json(ingest, pretty, key.x_sig(pretty, v_offset), "/clusterizer/op",
                             {"x-wallet": key.wallet})
    accepted(code, answer, edit, key.wallet)
    wait_call(ingest, key.wallet, edit["id"])


# (c) ---------------------------------------------------------------------------------------------

def test_a_high_s_twin_made_in_python_is_refused_naming_high_s(ingest: str) -> None:
    key = Key.generate()

    # MessagePack: s -> n - s, the recovery id's parity flipped.
    the_call = add_call(new_id("hs"), new_track(), "malleated")
    payload = msgpack.packb(the_call)
    digest = rpc_wire.sha256(payload)
    low, recovery_id = key.sign_recoverable(digest)
    high = rpc_wire.high_s(low)
    # Still a signature of the same payload by the same key, as far as recovery goes.
    twin_key = rpc_wire.recover(digest, high, recovery_id ^ 1)
    assert twin_key.format() == key.private.public_key.format()
    envelope = msgpack.packb([11, payload, high, recovery_id ^ 1])
    code, answer = post_msgpack(ingest, envelope)
    assert code == 401, answer
    assert "high-s" in answer["error"]["message"], answer
    # DER form of the same high-s signature.
    envelope = msgpack.packb([11, payload, rpc_wire.compact_to_der(high), recovery_id ^ 1])
    code, answer = post_msgpack(ingest, envelope)
    assert code == 401 and "high-s" in answer["error"]["message"], answer

    # JSON: the same with v flipped.
    body, _ = key.signed_json(the_call)
    low, recovery_id = key.sign_recoverable(rpc_wire.keccak256(body))
    x_sig = base64.b64encode(rpc_wire.high_s(low) + bytes([recovery_id ^ 1])).decode()
    code, answer = post_json(ingest, body, x_sig)
    assert code == 401, answer
    assert "high-s" in answer["error"]["message"], answer

    # Nothing of it was stored.
    code, _, raw = http(ingest, f"/op/status/{key.wallet}/{the_call['id']}")
    assert code == 404, raw


def test_a_call_altered_after_signing_is_refused_when_x_wallet_names_the_signer(
        ingest: str) -> None:
    key = Key.generate()
    the_call = add_call(new_id("t"), new_track(), "original words")
    payload = msgpack.packb(the_call)
    good = msgpack.unpackb(key.envelope(payload))
    altered = payload.replace(b"original", b"ORIGINAL")
    assert altered != payload
    envelope = msgpack.packb([11, altered, good[2], good[3]])
    # Python recovers some other wallet from it too.
    assert rpc_wire.open_envelope(envelope).wallet != key.wallet
    code, answer = post_msgpack(ingest, envelope, extra={"x-wallet": key.wallet})
    assert code == 401, answer
    assert "not by" in answer["error"]["message"], answer


# (d) ---------------------------------------------------------------------------------------------

def comments_of(ingest: str, track: int, key: Key, count: int) -> Dict[str, Dict[str, Any]]:
    """Adds `count` comments to `track` (the later, the earlier in the track) and waits until
    they are applied; returns their calls by comment id."""
    made = {}
    for n in range(count):
        the_call = add_call(new_id("q"), track, f"comment {n} ✓", position_ms=1000 * (count - n))
        code, answer = post_msgpack(ingest, key.signed_msgpack(the_call))
        accepted(code, answer, the_call, key.wallet)
        made[the_call["params"]["comment_id"]] = the_call
    for the_call in made.values():
        wait_call(ingest, key.wallet, the_call["id"])
    return made


def check_listed(result: Dict[str, Any], made: Dict[str, Dict[str, Any]], track: int) -> None:
    comments = result["comments"]
    assert [c["comment_id"] for c in comments] == sorted(
        made, key=lambda cid: made[cid]["params"]["position_ms"]), comments
    for listed in comments:
        sent = made[listed["comment_id"]]["params"]
        assert listed["track_id"] == track, listed
        assert listed["comment"] == sent["comment"], listed
        assert listed["position_ms"] == sent["position_ms"], listed


def test_signed_query_answers_verify_in_python_against_the_node_key(
        ingest: str, node: Dict[str, Any]) -> None:
    key = Key.generate()
    track = new_track()
    made = comments_of(ingest, track, key, 2)

    # MessagePack answer.
    query = rpc_wire.call(new_id("q"), "track_comment.list", {"track_id": track}, now_ms())
    code, headers, raw = http(ingest, "/query", key.signed_msgpack(query),
                              {"content-type": MSGPACK_TYPE, "accept": MSGPACK_TYPE})
    assert code == 200, raw
    assert headers["content-type"] == MSGPACK_TYPE, headers
    opened = rpc_wire.open_envelope(raw)
    assert len(msgpack.unpackb(raw)[2]) == 64, "the node signs compact"
    assert opened.wallet == node["wallet"]
    assert opened.public_key.format(compressed=False).hex() == node["publicKeyHex"]
    answer = msgpack.unpackb(opened.payload, raw=False)
    assert answer["id"] == query["id"], answer
    check_listed(answer["result"], made, track)

    # JSON answer, x-sig over keccak256 of the body.
    query = rpc_wire.call(new_id("q"), "track_comment.list", {"track_id": track}, now_ms())
    body, x_sig = key.signed_json(query)
    code, headers, raw = http(ingest, "/clusterizer/query", body,
                              {"content-type": "application/json", "x-sig": x_sig,
                               "x-wallet": key.wallet})
    assert code == 200, raw
    opened = rpc_wire.open_json(raw, headers["x-sig"])
    assert opened.wallet == node["wallet"]
    assert opened.public_key.format(compressed=False).hex() == node["publicKeyHex"]
    answer = json.loads(raw)
    assert answer["id"] == query["id"], answer
    check_listed(answer["result"], made, track)

    # rpclog.list: the signer's own entries.
    query = rpc_wire.call(new_id("q"), "rpclog.list", {"method": "track_comment.add"}, now_ms())
    code, headers, raw = http(ingest, "/query", key.signed_msgpack(query, der=True),
                              {"content-type": MSGPACK_TYPE, "accept": MSGPACK_TYPE})
    assert code == 200, raw
    opened = rpc_wire.open_envelope(raw)
    assert opened.wallet == node["wallet"]
    entries = msgpack.unpackb(opened.payload, raw=False)["result"]["entries"]
    assert sorted(e["id"] for e in entries) == sorted(c["id"] for c in made.values()), entries


def test_a_large_answer_decodes_in_python(ingest: str, node: Dict[str, Any]) -> None:
    """Comments of 10,000 four-byte characters (the most a comment may have; str16 in
    MessagePack) on the largest track id: the node's answer payload needs bin32 and decodes
    with Python's msgpack; one character more is refused."""
    key = Key.generate()
    track = 2**63 - 1
    longest = "🎧" * 10_000
    made = {}
    for n in range(3):
        the_call = add_call(new_id("long"), track, longest, position_ms=n)
        code, answer = post_msgpack(ingest, key.signed_msgpack(the_call))
        accepted(code, answer, the_call, key.wallet)
        made[the_call["params"]["comment_id"]] = the_call
    too_long = add_call(new_id("long"), track, longest + "!")
    code, answer = post_msgpack(ingest, key.signed_msgpack(too_long))
    assert code == 422 and "params.comment" in answer["error"]["message"], answer
    for the_call in made.values():
        wait_call(ingest, key.wallet, the_call["id"])

    query = rpc_wire.call(new_id("q"), "track_comment.list", {"track_id": track, "limit": 1000},
                          now_ms())
    code, _, raw = http(ingest, "/query", key.signed_msgpack(query),
                        {"content-type": MSGPACK_TYPE, "accept": MSGPACK_TYPE})
    assert code == 200, raw[:300]
    assert raw[:3] == bytes([0x94, 11, 0xC6]), "[11, bin32 payload, ...]: " + raw[:8].hex()
    opened = rpc_wire.open_envelope(raw)
    assert opened.wallet == node["wallet"]
    mine = [c for c in msgpack.unpackb(opened.payload, raw=False)["result"]["comments"]
            if c["comment_id"] in made]
    assert [c["comment_id"] for c in mine] == list(made), mine
    assert all(c["comment"] == longest and c["track_id"] == track for c in mine)


def test_refused_queries_are_signed_by_the_node_too(ingest: str, node: Dict[str, Any]) -> None:
    key = Key.generate()
    query = rpc_wire.call(new_id("q"), "track_comment.search", {}, now_ms())
    code, _, raw = http(ingest, "/query", key.signed_msgpack(query),
                        {"content-type": MSGPACK_TYPE, "accept": MSGPACK_TYPE})
    assert code == 400, raw
    opened = rpc_wire.open_envelope(raw)
    assert opened.wallet == node["wallet"]
    assert "unknown method" in msgpack.unpackb(opened.payload)["error"]["message"]

    body, x_sig = key.signed_json(query)
    code, headers, raw = http(ingest, "/query", body,
                              {"content-type": "application/json", "x-sig": x_sig})
    assert code == 400, raw
    assert rpc_wire.open_json(raw, headers["x-sig"]).wallet == node["wallet"]


# (e) ---------------------------------------------------------------------------------------------

def natsapi(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATSAPI_")}
    done = subprocess.run([str(natsapi_bin()), *args], cwd=str(cwd), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def test_natsapi_sign_output_verifies_in_python(tmp_path: Path, ingest: str) -> None:
    key_file = tmp_path / "alice.key"
    wallet = natsapi("keygen", "--out", str(key_file), cwd=tmp_path).stdout.decode().strip()
    assert wallet.startswith("0x") and len(wallet) == 42, wallet
    # The key file is 64 hex digits; Python derives the same wallet from it.
    assert Key.from_hex(key_file.read_text()).wallet == wallet

    the_call = add_call(new_id("cli"), new_track(), "signed by natsapi")
    del the_call["ts"]
    text = json.dumps(the_call)
    for extra in ([], ["--der"]):
        envelope = natsapi("sign", "--key", str(key_file), *extra, text, cwd=tmp_path).stdout
        opened = rpc_wire.open_envelope(envelope)
        assert opened.wallet == wallet
        signature = msgpack.unpackb(envelope)[2]
        assert (signature[0] == 0x30) if extra else len(signature) == 64, signature.hex()
        signed = msgpack.unpackb(opened.payload, raw=False)
        assert isinstance(signed.pop("ts"), int), "natsapi sign adds the time"
        assert signed == the_call

    out = tmp_path / "call.json"
    x_sig = natsapi("sign", "--key", str(key_file), "--format", "json", "--out", str(out), text,
                    cwd=tmp_path).stdout.decode().strip()
    body = out.read_bytes()
    assert rpc_wire.open_json(body, x_sig).wallet == wallet
    signed = json.loads(body)
    signed.pop("ts")
    assert signed == the_call

    # And the gateway agrees on whose it is.
    code, answer = post_json(ingest, body, x_sig, extra={"x-wallet": wallet})
    accepted(code, answer, the_call, wallet)
    wait_call(ingest, wallet, the_call["id"])
