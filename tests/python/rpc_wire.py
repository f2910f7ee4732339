"""natsapi's signed RPC wire formats, written here from their description with libraries we did
not write: coincurve (libsecp256k1) signs and recovers, msgpack encodes and decodes, and
pycryptodome's Keccak-256 (Ethereum's, not SHA3-256) names wallets and hashes JSON bodies.

Nothing here imports project code: the point is to check natsapi against independent
implementations of the same formats.

- MessagePack envelope (content type `application/x-audius-msg`): the array
  `[11, payload (bin), signature (bin), recovery_id (int)]`, `payload` the MessagePack map of the
  call, the signature secp256k1 over SHA-256(payload), 64 bytes r||s or DER.
- JSON body with `x-sig`: base64 of r||s||v (65 bytes) over Keccak-256 of the exact body.
- Wallet: `0x` + lowercase hex of the last 20 bytes of Keccak-256 of the 64-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import coincurve
import msgpack
from Crypto.Hash import keccak

MSGPACK_TYPE = "application/x-audius-msg"
SIGNED_MAGIC = 11
# The order of secp256k1's group.
CURVE_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def keccak256(data: bytes) -> bytes:
    digest = keccak.new(digest_bits=256)
    digest.update(data)
    return digest.digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def wallet_of(public_key: coincurve.PublicKey) -> str:
    """The wallet of a public key: 0x + the last 20 bytes of keccak256(x || y), lowercase hex."""
    point = public_key.format(compressed=False)
    assert len(point) == 65 and point[0] == 4
    return "0x" + keccak256(point[1:])[12:].hex()


def split_compact(signature: bytes) -> Tuple[int, int]:
    """(r, s) of a 64-byte r||s signature."""
    assert len(signature) == 64, signature.hex()
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def join_compact(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der_integer(data: bytes, at: int) -> Tuple[int, int]:
    """Reads one DER INTEGER (short length form) at `at`; returns it and where the next starts."""
    assert data[at] == 0x02, f"not an INTEGER at {at}: {data.hex()}"
    length = data[at + 1]
    assert 1 <= length <= 33, data.hex()
    body = data[at + 2:at + 2 + length]
    assert len(body) == length, data.hex()
    # Minimal and positive: no needless leading zero, no high bit set.
    assert body[0] < 0x80, data.hex()
    assert length == 1 or body[0] != 0 or body[1] >= 0x80, data.hex()
    return int.from_bytes(body, "big"), at + 2 + length


def der_to_compact(der: bytes) -> bytes:
    """The r||s form of a strict DER signature SEQUENCE { INTEGER r, INTEGER s }."""
    assert der[0] == 0x30 and der[1] == len(der) - 2, der.hex()
    r, at = _der_integer(der, 2)
    s, at = _der_integer(der, at)
    assert at == len(der), der.hex()
    return join_compact(r, s)


def _der_int_bytes(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + bytes([len(body)]) + body


def compact_to_der(signature: bytes) -> bytes:
    """The DER form of a 64-byte r||s signature."""
    r, s = split_compact(signature)
    inner = _der_int_bytes(r) + _der_int_bytes(s)
    return b"\x30" + bytes([len(inner)]) + inner


def is_low_s(signature: bytes) -> bool:
    _, s = split_compact(signature)
    return 1 <= s <= CURVE_N // 2


def recover(digest: bytes, signature: bytes, recovery_id: int) -> coincurve.PublicKey:
    """The public key libsecp256k1 recovers from a 64-byte signature of a 32-byte digest."""
    assert len(digest) == 32 and recovery_id in (0, 1, 2, 3)
    return coincurve.PublicKey.from_signature_and_message(
        signature + bytes([recovery_id]), digest, hasher=None
    )


def verify(public_key: coincurve.PublicKey, digest: bytes, signature: bytes) -> bool:
    """libsecp256k1's own verification of a 64-byte signature (through its DER parser)."""
    return public_key.verify(compact_to_der(signature), digest, hasher=None)


def call(call_id: str, method: str, params: Dict[str, Any],
         ts: Optional[int] = None) -> Dict[str, Any]:
    """A call object `{id, method, params, ts?}`."""
    out: Dict[str, Any] = {"id": call_id, "method": method, "params": params}
    if ts is not None:
        out["ts"] = ts
    return out


@dataclass
class Key:
    """A wallet key made by coincurve."""

    private: coincurve.PrivateKey

    @classmethod
    def generate(cls) -> "Key":
        return cls(coincurve.PrivateKey())

    @classmethod
    def from_hex(cls, text: str) -> "Key":
        return cls(coincurve.PrivateKey(bytes.fromhex(text.strip())))

    @property
    def wallet(self) -> str:
        return wallet_of(self.private.public_key)

    def sign_recoverable(self, digest: bytes) -> Tuple[bytes, int]:
        """(r||s, recovery id) of a 32-byte digest; libsecp256k1 always makes low-s."""
        signature = self.private.sign_recoverable(digest, hasher=None)
        return signature[:64], signature[64]

    def envelope(self, payload: bytes, der: bool = False) -> bytes:
        """The signed MessagePack envelope of `payload`, the signature compact or (coincurve's
        own output) DER."""
        digest = sha256(payload)
        compact, recovery_id = self.sign_recoverable(digest)
        if der:
            signature = self.private.sign(digest, hasher=None)
            # The same RFC 6979 nonce: the DER signature is the compact one, re-encoded.
            assert der_to_compact(signature) == compact
        else:
            signature = compact
        return msgpack.packb([SIGNED_MAGIC, payload, signature, recovery_id], use_bin_type=True)

    def signed_msgpack(self, the_call: Dict[str, Any], der: bool = False) -> bytes:
        return self.envelope(msgpack.packb(the_call, use_bin_type=True), der=der)

    def x_sig(self, body: bytes, v_offset: int = 0) -> str:
        """The x-sig header of `body`: base64 of r||s||v over keccak256(body)."""
        compact, recovery_id = self.sign_recoverable(keccak256(body))
        return base64.b64encode(compact + bytes([recovery_id + v_offset])).decode()

    def signed_json(self, the_call: Dict[str, Any]) -> Tuple[bytes, str]:
        """The JSON body (UTF-8, not ASCII-escaped) and its x-sig."""
        body = json.dumps(the_call, ensure_ascii=False, separators=(",", ":")).encode()
        return body, self.x_sig(body)


@dataclass
class Opened:
    """A verified signature: who signed, and the signed bytes."""

    public_key: coincurve.PublicKey
    wallet: str
    payload: bytes
    signature: bytes


def open_envelope(envelope: bytes) -> Opened:
    """Reads a signed envelope, recovers its signer and checks the signature with libsecp256k1.
    The signature may be compact or DER; either way it must be low-s."""
    items = msgpack.unpackb(envelope, raw=False, strict_map_key=True)
    assert isinstance(items, list) and len(items) == 4, items
    magic, payload, signature, recovery_id = items
    assert magic == SIGNED_MAGIC, items
    assert isinstance(payload, bytes) and isinstance(signature, bytes), items
    assert isinstance(recovery_id, int), items
    compact = signature if len(signature) == 64 else der_to_compact(signature)
    assert is_low_s(compact), f"high-s: {compact.hex()}"
    digest = sha256(payload)
    public_key = recover(digest, compact, recovery_id)
    assert verify(public_key, digest, compact)
    return Opened(public_key, wallet_of(public_key), payload, compact)


def open_json(body: bytes, x_sig: str) -> Opened:
    """Recovers the signer of a JSON body from its x-sig (v 0/1 or 27/28) and checks it."""
    raw = base64.b64decode(x_sig, validate=True)
    assert len(raw) == 65, raw.hex()
    compact, v = raw[:64], raw[64]
    recovery_id = v - 27 if v >= 27 else v
    assert is_low_s(compact), f"high-s: {compact.hex()}"
    digest = keccak256(body)
    public_key = recover(digest, compact, recovery_id)
    assert verify(public_key, digest, compact)
    return Opened(public_key, wallet_of(public_key), body, compact)


def high_s(compact: bytes) -> bytes:
    """The same signature with s replaced by n - s (the malleated twin)."""
    r, s = split_compact(compact)
    return join_compact(r, CURVE_N - s)
