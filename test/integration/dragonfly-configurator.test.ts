// The Dragonfly configurator against fake nodes that speak RESP like Dragonfly's admin port does.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildClusterConfig, type DragonflyClusterConfig } from '../../scripts/dragonfly-config.js';
import { createDragonflyConfigurator, parseNodeSpec } from '../../scripts/dragonfly-configurator.js';

type Resp = string | number | null | Error | Resp[];

function encode(value: Resp): string {
  if (value instanceof Error) return `-${value.message}\r\n`;
  if (value === null) return '$-1\r\n';
  if (typeof value === 'number') return `:${value}\r\n`;
  if (Array.isArray(value)) return `*${value.length}\r\n${value.map(encode).join('')}`;
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
}

/** Parses the complete RESP arrays of bulk strings at the start of `buffer` (all a client sends). */
function parseCommands(buffer: string): { commands: string[][]; rest: string } {
  const commands: string[][] = [];
  let at = 0;
  for (;;) {
    const header = /^\*(\d+)\r\n/.exec(buffer.slice(at));
    if (!header) break;
    let cursor = at + header[0].length;
    const args: string[] = [];
    for (let i = 0; i < Number(header[1]); i++) {
      const bulk = /^\$(\d+)\r\n/.exec(buffer.slice(cursor));
      const end = bulk ? cursor + bulk[0].length + Number(bulk[1]) : -1;
      if (!bulk || buffer.length < end + 2) return { commands, rest: buffer.slice(at) };
      args.push(buffer.slice(cursor + bulk[0].length, end));
      cursor = end + 2;
    }
    commands.push(args);
    at = cursor;
  }
  return { commands, rest: buffer.slice(at) };
}

/** A stand-in for one Dragonfly node in --cluster_mode=yes: unconfigured until DFLYCLUSTER CONFIG. */
class FakeDragonfly {
  config: DragonflyClusterConfig | null = null;
  pushes = 0;
  private server: Server = createServer((socket) => this.serve(socket));
  private sockets = new Set<Socket>();
  private isDown = false;
  port = 0;

  /** Listens on a port the kernel picks, for the life of the fake: nothing else can take it meanwhile. */
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Like a restarted process: connections dropped, the slot map gone. */
  restart(): void {
    this.config = null;
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * Like a dead process: every connection reset at once, the slot map gone, until `up()`. The port
   * stays bound, so the node comes back where the configurator looks for it: closed and listened
   * on again, the port could be taken by another process (or an outgoing connection) meanwhile.
   */
  down(): void {
    this.isDown = true;
    this.restart();
  }

  up(): void {
    this.isDown = false;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    if (this.isDown) {
      socket.resetAndDestroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = '';
    socket.on('data', (chunk) => {
      const parsed = parseCommands(buffer + chunk.toString());
      buffer = parsed.rest;
      for (const command of parsed.commands) socket.write(encode(this.answer(command)));
    });
  }

  private answer([name = '', sub = '', arg = '']: string[]): Resp {
    const command = `${name} ${sub}`.toUpperCase().trim();
    if (command === 'PING') return 'PONG';
    if (command.startsWith('INFO')) return '# Persistence\r\nloading:0\r\n';
    if (command.startsWith('CLIENT')) return 'OK';
    if (command === 'CLUSTER SLOTS') {
      if (!this.config) return new Error('ERR Cluster is not yet configured');
      return this.config.flatMap((shard) =>
        shard.slot_ranges.map((r) => [r.start, r.end, [shard.master.ip, shard.master.port, shard.master.id]]),
      );
    }
    if (command === 'DFLYCLUSTER CONFIG') {
      this.config = JSON.parse(arg) as DragonflyClusterConfig;
      this.pushes += 1;
      return 'OK';
    }
    return new Error(`ERR unknown command '${name}'`);
  }
}

const SHARDS = 12;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Three fake nodes and a running configurator (the real ioredis connections) over them. */
async function setUp(options: { force?: boolean; preconfigured?: DragonflyClusterConfig } = {}) {
  const fakes = await Promise.all([1, 2, 3].map(() => new FakeDragonfly().listen()));
  cleanups.push(() => Promise.all(fakes.map((f) => f.stop())).then(() => {}));
  const nodes = fakes.map((fake, i) => parseNodeSpec(`orderflow-df-${i + 1}@127.0.0.1:6379/${fake.port}`));
  const config = buildClusterConfig({
    nodes: nodes.map((n) => ({ id: n.id, ip: n.host, port: n.port })),
    shards: SHARDS,
  });
  for (const fake of fakes) fake.config = options.preconfigured ?? null;
  const dir = mkdtempSync(path.join(tmpdir(), 'orderflow-configurator-'));
  const healthFile = path.join(dir, 'configured');
  const events: Array<{ event: string; node_id?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void events.push(JSON.parse(line)) });
  const configurator = createDragonflyConfigurator({
    nodes,
    config,
    logger,
    intervalMs: 100,
    healthFile,
    force: options.force,
  });
  configurator.start();
  cleanups.push(async () => {
    await configurator.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { fakes, config, healthFile, events };
}

describe('the Dragonfly configurator', () => {
  describe('when the nodes have not been configured yet', () => {
    it('pushes the same config to every node and marks itself healthy', async () => {
      const { fakes, config, healthFile } = await setUp();
      await until(() => fakes.every((f) => f.config !== null) && existsSync(healthFile));
      for (const fake of fakes) expect(fake.config).toEqual(config);
    });

    it('pushes once and then only probes while the nodes keep their config', async () => {
      const { fakes } = await setUp();
      await until(() => fakes.every((f) => f.config !== null));
      await sleep(500);
      expect(fakes.map((f) => f.pushes)).toEqual([1, 1, 1]);
    });
  });

  describe('when a node restarts and loses its config', () => {
    it('re-pushes to that node within a period and only to it', async () => {
      const { fakes, config, healthFile, events } = await setUp();
      await until(() => fakes.every((f) => f.config !== null));
      fakes[1]!.restart();
      await until(() => fakes[1]!.pushes === 2, 5000);
      expect(fakes[1]!.config).toEqual(config);
      expect(fakes.map((f) => f.pushes)).toEqual([1, 2, 1]);
      await until(() => existsSync(healthFile));
      const repushed = events.filter((e) => e.event === 'config-pushed' && e.node_id === 'orderflow-df-2');
      expect(repushed).toHaveLength(2);
    });
  });

  describe('when a node is down for a while', () => {
    it('reports it unreachable, turns unhealthy, and configures it once it is back', async () => {
      const { fakes, healthFile, events } = await setUp();
      await until(() => fakes.every((f) => f.config !== null) && existsSync(healthFile));
      fakes[2]!.down();
      await until(() => !existsSync(healthFile));
      expect(events.some((e) => e.event === 'node-unreachable' && e.node_id === 'orderflow-df-3')).toBe(true);
      expect(fakes[2]!.config).toBeNull();
      fakes[2]!.up();
      await until(() => fakes[2]!.config !== null && existsSync(healthFile), 8000);
    });
  });

  describe('when a node already serves another slot map', () => {
    const other = (): DragonflyClusterConfig => [
      {
        slot_ranges: [{ start: 0, end: 16383 }],
        master: { id: 'someone-else', ip: 'x', port: 1 },
        replicas: [],
      },
    ];

    it('leaves it alone, logs the drift and stays unhealthy', async () => {
      const { fakes, healthFile, events } = await setUp({ preconfigured: other() });
      await until(() => events.filter((e) => e.event === 'node-drift').length === 3);
      await sleep(300);
      expect(fakes.every((f) => f.pushes === 0)).toBe(true);
      expect(existsSync(healthFile)).toBe(false);
    });

    it('overwrites it with force', async () => {
      const { fakes, config, healthFile } = await setUp({ preconfigured: other(), force: true });
      await until(() => fakes.every((f) => f.pushes === 1) && existsSync(healthFile));
      expect(fakes[0]!.config).toEqual(config);
    });
  });
});

describe('parseNodeSpec', () => {
  it('reads id@host:port with an optional admin port', () => {
    expect(parseNodeSpec('df-1@dragonfly-1:6379/16379')).toEqual({
      id: 'df-1',
      host: 'dragonfly-1',
      port: 6379,
      adminPort: 16379,
    });
    expect(parseNodeSpec('df-1@10.0.0.1:6379').adminPort).toBe(6379);
    expect(() => parseNodeSpec('dragonfly-1:6379')).toThrow(/id@host:port/);
  });
});
