// Signed RPC calls of `natsapi dev`'s ingest gateway, made and checked the way the original
// ChantCodec did it in JavaScript: @noble/secp256k1 v1 (`sign(hash, key, {recovered: true})`,
// DER by default, or `der: false` for 64 bytes r||s), @msgpack/msgpack for the call and the
// envelope [11, payload, signature, recoveryId], SHA-256 and Keccak-256 from @noble/hashes.
// Nothing here comes from natsapi: the point is that calls made by these libraries are accepted
// under the wallet they compute, and that the node's signed answers verify with them.
//
// Run: npm ci --prefix tests/node && (cd tests/node && node --test)
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { decode, encode } = require('@msgpack/msgpack');
const { sha256 } = require('@noble/hashes/sha2');
const { keccak_256: keccak256 } = require('@noble/hashes/sha3');
const secp = require('@noble/secp256k1');

const { Natsapi, freePort, sleep } = require('./natsapi_process');

const MSGPACK_TYPE = 'application/x-audius-msg';
const SIGNED_MAGIC = 11;

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const newId = (prefix) => `${prefix}.${crypto.randomUUID().slice(0, 12)}`;
// A track no other test or run writes to.
const newTrack = () => crypto.randomInt(2 ** 32, 2 ** 47);

// A wallet: 0x + the last 20 bytes of keccak256 of the 64-byte public key (no 0x04 prefix).
function walletOf(uncompressed) {
  assert.equal(uncompressed.length, 65);
  assert.equal(uncompressed[0], 4);
  return `0x${hex(keccak256(uncompressed.subarray(1)).subarray(12))}`;
}

// A wallet key made by noble.
function newKey() {
  const privateKey = secp.utils.randomPrivateKey();
  return { privateKey, wallet: walletOf(secp.getPublicKey(privateKey, false)) };
}

// The original codec: the call's MessagePack is the payload, its SHA-256 is signed, and the
// envelope is the MessagePack array [11, payload, signature, recoveryId].
async function signedEnvelope(call, key, der) {
  const payload = encode(call);
  const options = der === undefined ? { recovered: true } : { recovered: true, der };
  const [signature, recoveryId] = await secp.sign(sha256(payload), key.privateKey, options);
  return { body: encode([SIGNED_MAGIC, payload, signature, recoveryId]), signature };
}

// JSON with x-sig: base64 of r||s||v over keccak256 of the exact body.
async function signedJson(call, key) {
  const body = Buffer.from(JSON.stringify(call));
  const [signature, recoveryId] = await secp.sign(keccak256(body), key.privateKey, {
    recovered: true,
    der: false,
  });
  const xSig = Buffer.concat([signature, Uint8Array.of(recoveryId)]).toString('base64');
  return { body, xSig };
}

// Recovers the signer of an envelope with noble and verifies the signature against it (noble's
// verify is strict: high-s fails).
function openEnvelope(bytes) {
  const items = decode(bytes);
  assert.ok(Array.isArray(items) && items.length === 4, `not a 4-element array: ${items}`);
  const [magic, payload, signature, recoveryId] = items;
  assert.equal(magic, SIGNED_MAGIC);
  assert.ok(payload instanceof Uint8Array && signature instanceof Uint8Array);
  const hash = sha256(payload);
  const publicKey = secp.recoverPublicKey(hash, signature, recoveryId, false);
  assert.ok(secp.verify(signature, hash, publicKey), 'the signature verifies (low-s)');
  return { publicKey, wallet: walletOf(publicKey), payload, signature, hash };
}

const now = () => Date.now();

function addCall(commentId, trackId, comment, positionMs = 3125) {
  return {
    id: `track_comment.add.${commentId}`,
    method: 'track_comment.add',
    params: { comment_id: commentId, track_id: trackId, position_ms: positionMs, comment },
    ts: now(),
  };
}

async function post(base, path, body, headers) {
  const response = await fetch(base + path, { method: 'POST', body, headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body: bytes };
}

async function getJson(base, path) {
  const response = await fetch(base + path);
  return { status: response.status, json: await response.json() };
}

function assertAccepted(answer, call, wallet) {
  const json = JSON.parse(answer.body);
  assert.equal(answer.status, 202, JSON.stringify(json));
  assert.equal(json.id, call.id);
  assert.equal(json.wallet, wallet);
  assert.equal(json.method, call.method);
  assert.equal(json.status, 'accepted');
  assert.equal(json.duplicate, false);
  assert.ok(Number.isInteger(json.stream_sequence) && json.stream_sequence > 0,
    JSON.stringify(json));
}

async function waitApplied(base, wallet, id) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const { status, json } = await getJson(base, `/op/status/${wallet}/${id}`);
    assert.equal(status, 200, JSON.stringify(json));
    if (json.status === 'applied') return json;
    assert.notEqual(json.status, 'dead_lettered', JSON.stringify(json));
    assert.ok(Date.now() < deadline, `${id} never applied: ${JSON.stringify(json)}`);
    await sleep(50);
  }
}

describe('signed RPC calls through @noble/secp256k1 v1 and @msgpack/msgpack', () => {
  let server;
  let ingest;

  before(async () => {
    server = new Natsapi(`nats://127.0.0.1:${await freePort()}`);
    server.start();
    try {
      await server.waitReady();
      ingest = await server.readyUrl('ingest gateway');
    } catch (e) {
      await server.stop().catch(() => {});
      throw e;
    }
  });

  after(async () => {
    // Safety net: the last test stops it; this only acts when a test failed before that.
    if (server && server.child && !server.exit) {
      await server.stop().catch(() => server.killGroup());
    }
  });

  it("applies an envelope signed with noble v1's default (DER)", async () => {
    const key = newKey();
    const call = addCall(newId('der'), newTrack(), 'sick drop 🎧');
    const { body, signature } = await signedEnvelope(call, key);
    assert.equal(signature[0], 0x30, `noble v1 signs DER by default: ${hex(signature)}`);
    assert.equal(openEnvelope(body).wallet, key.wallet);
    const answer = await post(ingest, '/op', body, {
      'content-type': MSGPACK_TYPE,
      'x-wallet': key.wallet,
    });
    assertAccepted(answer, call, key.wallet);
    const status = await waitApplied(ingest, key.wallet, call.id);
    assert.equal(status.method, 'track_comment.add');
  });

  it('applies a compact (der: false) envelope', async () => {
    const key = newKey();
    const call = addCall(newId('compact'), newTrack(), 'compact');
    const { body, signature } = await signedEnvelope(call, key, false);
    assert.equal(signature.length, 64);
    const answer = await post(ingest, '/clusterizer/op', body, { 'content-type': MSGPACK_TYPE });
    assertAccepted(answer, call, key.wallet);
    await waitApplied(ingest, key.wallet, call.id);
    // The same bytes again: a duplicate, not a second call.
    const again = await post(ingest, '/clusterizer/op', body, { 'content-type': MSGPACK_TYPE });
    assert.equal(again.status, 202);
    assert.equal(JSON.parse(again.body).duplicate, true);
  });

  it('applies a JSON call with an x-sig made by noble', async () => {
    const key = newKey();
    const call = addCall(newId('json'), newTrack(), 'signé en JSON');
    const { body, xSig } = await signedJson(call, key);
    const answer = await post(ingest, '/op', body, {
      'content-type': 'application/json',
      'x-sig': xSig,
      'x-wallet': key.wallet,
    });
    assertAccepted(answer, call, key.wallet);
    await waitApplied(ingest, key.wallet, call.id);
  });

  it("answers a query in MessagePack signed by the node's key, as noble verifies", async () => {
    const { status, json: node } = await getJson(ingest, '/clusterizer');
    assert.equal(status, 200);
    assert.equal(Buffer.from(node.publicKey, 'base64').toString('hex'), node.publicKeyHex);
    assert.equal(walletOf(Buffer.from(node.publicKeyHex, 'hex')), node.wallet);

    const key = newKey();
    const track = newTrack();
    const made = [
      addCall(newId('q'), track, 'later', 9000),
      addCall(newId('q'), track, 'earlier', 10),
    ];
    for (const call of made) {
      const { body } = await signedEnvelope(call, key);
      const answer = await post(ingest, '/op', body, { 'content-type': MSGPACK_TYPE });
      assertAccepted(answer, call, key.wallet);
    }
    for (const call of made) await waitApplied(ingest, key.wallet, call.id);

    const query = {
      id: newId('query'),
      method: 'track_comment.list',
      params: { track_id: track },
      ts: now(),
    };
    const { body } = await signedEnvelope(query, key);
    const answer = await post(ingest, '/query', body, {
      'content-type': MSGPACK_TYPE,
      accept: MSGPACK_TYPE,
    });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.headers.get('content-type'), MSGPACK_TYPE);
    const opened = openEnvelope(answer.body);
    assert.equal(hex(opened.publicKey), node.publicKeyHex, 'recovered: the node key');
    assert.equal(opened.wallet, node.wallet);
    assert.ok(secp.verify(opened.signature, opened.hash, node.publicKeyHex),
      "verifies with the node's key");
    // The same signature over other bytes does not.
    const other = sha256(Buffer.concat([opened.payload, Buffer.from(' ')]));
    assert.equal(secp.verify(opened.signature, other, node.publicKeyHex), false);

    const result = decode(opened.payload);
    assert.equal(result.id, query.id);
    const comments = result.result.comments;
    assert.deepEqual(
      comments.map((c) => [c.comment_id, c.comment, c.position_ms, c.track_id]),
      [made[1], made[0]].map((c) => [
        c.params.comment_id, c.params.comment, c.params.position_ms, track,
      ]),
    );
  });

  it('stops with exit code 0 on SIGTERM', async () => {
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server.log());
  });
});
