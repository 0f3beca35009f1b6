// Real Redis servers for the JS tests: started on free 127.0.0.1 ports with
// AOF (appendfsync always) in a temp dir, stopped by pid (at the end of the
// test, and in any case when this process exits). A 3-master cluster joins
// three of them with `redis-cli --cluster create`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export { createClient, createCluster, createSentinel } from 'redis';

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
  }
});

/**
 * A free port on 127.0.0.1, at most 55,535: a Redis node in cluster mode
 * refuses a higher one (its bus port is the port plus 10,000), and the
 * kernel hands out ports up to 60,999.
 */
export async function freePort({ bus = false } = {}) {
  for (;;) {
    const server = createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    if (port <= 55_535 && (!bus || (await canListen(port + 10_000)))) return port;
  }
}

/** Whether `port` on 127.0.0.1 is free to listen on now. */
async function canListen(port) {
  const server = createServer();
  const ok = await new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

/** Whether something on `port` answers PING with PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

/** One redis-server process. */
export class RedisServer {
  #child = null;
  #extra;
  #command = null;

  constructor(port, dir, extra) {
    this.port = port;
    this.dir = dir;
    this.#extra = extra;
  }

  /** Starts a server; `extra` are more redis-server arguments. */
  static async start(extra = []) {
    // A port found free can be taken before the server binds it (or, in a
    // cluster, its bus port, the port plus 10,000): then it exits at once,
    // and another port is tried, up to five times.
    const bus = extra.includes('--cluster-enabled');
    return RedisServer.#onAFreePort(async () => new RedisServer(await freePort({ bus }), mkdtempSync(join(tmpdir(), 'ut-redis-')), extra));
  }

  /** The server `make` gives, launched; made again while its port turns out taken (five times at most). */
  static async #onAFreePort(make) {
    for (let attempt = 1; ; attempt++) {
      const server = await make();
      try {
        await server.#launch();
        return server;
      } catch (err) {
        let log = '';
        try {
          log = readFileSync(join(server.dir, 'redis.log'), 'utf8');
        } catch {}
        if (attempt >= 5 || !log.includes('Address already in use')) throw err;
        rmSync(server.dir, { recursive: true, force: true });
      }
    }
  }

  /**
   * Starts a Sentinel (`redis-sentinel` from the distribution) watching the
   * primary on `primaryPort` as `name`: down after 1 s without an answer, a
   * quorum of 2, so three of them fail over within a few seconds.
   */
  static async startSentinel(name, primaryPort) {
    return RedisServer.#onAFreePort(async () => {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'ut-sentinel-'));
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${join(dir, 'redis.log')}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const server = new RedisServer(port, dir, []);
      server.#command = ['redis-sentinel', [conf]];
      return server;
    });
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid() {
    return this.#child?.pid;
  }

  /** The port of the primary it replicates, or null when it is not a replica. */
  get replicaOfPort() {
    const m = /master_port:(\d+)/.exec(cli(this.port, 'info', 'replication'));
    return m ? Number(m[1]) : null;
  }

  /** Whether it is a replica whose link to its primary is up (synced). */
  get syncedReplica() {
    const info = cli(this.port, 'info', 'replication');
    return /role:slave/.test(info) && /master_link_status:up/.test(info);
  }

  /** Whether its process runs. */
  get running() {
    const child = this.#child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  async #launch(once = []) {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--logfile', join(this.dir, 'redis.log'), ...this.#extra, ...once,
    ];
    const [command, commandArgs] = this.#command ?? ['redis-server', args];
    const child = spawn(command, commandArgs, { stdio: 'ignore' });
    this.#child = child;
    running.add(child);
    child.on('exit', () => running.delete(child));
    for (let i = 0; i < 400; i++) {
      if (await ping(this.port)) return;
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}); see ${this.dir}/redis.log`);
      await sleep(25);
    }
    throw new Error(`redis-server on ${this.port} did not answer`);
  }

  /** `kill -9`: no shutdown, no last write. */
  async kill9() {
    if (!this.running) return;
    const child = this.#child;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  /**
   * Starts it again on the same port and dir: on its AOF. With `replicaOf`
   * (a port on 127.0.0.1) it starts as that server's replica, as a
   * Sentinel-aware start script starts a server that was a primary.
   */
  async restart({ replicaOf } = {}) {
    await this.#launch(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]);
  }

  /** The last `lines` lines of its log file, for a failed test's message. */
  logTail(lines = 30) {
    try {
      return readFileSync(join(this.dir, 'redis.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch (err) {
      return `(no log: ${err.message})`;
    }
  }

  /** Stops it and removes its files. */
  async stop() {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A 3-master Redis Cluster on 127.0.0.1; with `{ replicas: 1 }` each master
 * has a replica (six nodes), and `nodeTimeoutMs` (default 5000) is how long
 * a master may be silent before its replica takes over.
 */
export async function startCluster({ replicas = 0, nodeTimeoutMs = 5000 } = {}) {
  // Every node started, or none left running: a node that started while
  // another failed would keep this process alive after its tests (a child
  // process holds the event loop), and the test file would never end.
  const started = await Promise.allSettled(
    Array.from({ length: 3 * (1 + replicas) }, () =>
      RedisServer.start(['--cluster-enabled', 'yes', '--cluster-node-timeout', String(nodeTimeoutMs)]),
    ),
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.filter((r) => r.status === 'fulfilled').map((r) => r.value.stop()));
    throw failed.reason;
  }
  const nodes = started.map((r) => r.value);
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
    stdio: 'ignore',
  });
  // Wait until every node sees the cluster as up.
  for (let i = 0; i < 400; i++) {
    const states = nodes.map((n) => execFileSync('redis-cli', ['-p', String(n.port), 'cluster', 'info']).toString());
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    await sleep(25);
  }
  // A replica that has not synced yet cannot take over: wait for each.
  for (let i = 0; i < 400 && replicas > 0; i++) {
    if (nodes.filter((n) => n.syncedReplica).length === 3 * replicas) break;
    await sleep(25);
  }
  return {
    nodes,
    rootNodes: nodes.map((n) => ({ url: n.url })),
    /** The nodes that are masters now, as `{ node, id, slots }` (slots: how many). */
    masters() {
      const lines = cli(nodes.find((n) => n.running).port, 'cluster', 'nodes').trim().split('\n');
      return lines
        .map((l) => l.split(' '))
        .filter((f) => f[2].includes('master') && !f[2].includes('fail'))
        .map((f) => ({
          node: nodes.find((n) => n.port === Number(f[1].split(':')[1].split('@')[0])),
          id: f[0],
          slots: f.slice(8).reduce((sum, r) => {
            const [a, b] = r.split('-').map(Number);
            return r.startsWith('[') ? sum : sum + (b === undefined ? 1 : b - a + 1);
          }, 0),
        }));
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/**
 * A primary, one replica and three Sentinels watching them as `name`, all
 * on 127.0.0.1: kill -9 the primary and the Sentinels promote the replica.
 * `primary()` asks a Sentinel which server is the primary now.
 */
export async function startSentinelGroup(name = 'ut') {
  // Every server started, or none left running (as for a cluster).
  const started = [];
  const keep = (server) => (started.push(server), server);
  let primary;
  let replica;
  const sentinels = [];
  try {
    primary = keep(await RedisServer.start());
    replica = keep(await RedisServer.start(['--replicaof', '127.0.0.1', String(primary.port)]));
    for (let i = 0; i < 400; i++) {
      if (replica.syncedReplica) break;
      await sleep(25);
    }
    for (let i = 0; i < 3; i++) sentinels.push(keep(await RedisServer.startSentinel(name, primary.port)));
  } catch (err) {
    await Promise.all(started.map((n) => n.stop()));
    throw err;
  }
  // Wait until every Sentinel knows the replica and the others.
  for (let i = 0; i < 400; i++) {
    const ready = sentinels.every((s) => {
      const info = cli(s.port, 'sentinel', 'master', name);
      return /num-slaves\n1\n/.test(info) && /num-other-sentinels\n2\n/.test(info);
    });
    if (ready) break;
    await sleep(50);
  }
  const servers = [primary, replica];
  return {
    name,
    servers,
    sentinels,
    rootNodes: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    /** The server the Sentinels name as the primary now. */
    primary() {
      return this.primaryAsSeenBy(sentinels[0]);
    },
    /** The server `sentinel` names as the primary now. */
    primaryAsSeenBy(sentinel) {
      const port = Number(cli(sentinel.port, 'sentinel', 'get-master-addr-by-name', name).trim().split('\n')[1]);
      return servers.find((s) => s.port === port);
    },
    async stop() {
      await Promise.all([...sentinels, ...servers].map((n) => n.stop()));
    },
  };
}

/** `redis-cli -p <port> <args>`' output, for checks from outside the engine. */
export function cli(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args]).toString();
}
