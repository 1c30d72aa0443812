// A fault-injecting TCP proxy in front of one redis-server: added latency, dropped replies, resets, partitions.
import net from 'node:net';
import { createLane } from './lane.js';
import { type NodeLinks, plainAddress } from './node-links.js';
import type { Prng } from './prng.js';

/** The faults a proxy applies now; all off is a plain pipe. */
export interface ProxyFaults {
  /** Added to every chunk, both directions (order kept). */
  latencyMs: number;
  /** Per client chunk: forward it, then swallow the server's reply and reset the connection. */
  dropReplyRate: number;
  /** Per connection and per 250 ms: reset it (RST to the client, close to the server). */
  resetRate: number;
  /**
   * Holds back what the node sends its replicas (kept in order, sent when the hold ends, gone if
   * the node dies first), while the link stays up: the replica lags as behind a partition.
   */
  holdReplication: boolean;
}

export const NO_FAULTS: ProxyFaults = {
  latencyMs: 0,
  dropReplyRate: 0,
  resetRate: 0,
  holdReplication: false,
};

/** One proxied connection. */
interface Pair {
  /** The address the connection came from: a store node's own, or a client's. */
  source: string;
  client: net.Socket;
  upstream: net.Socket;
  toClient: (chunk: Buffer, latencyMs: number) => void;
  /** A replica's link to this node (seen by its REPLCONF / PSYNC), and what is held back from it. */
  replication: boolean;
  held: Buffer[];
}

/** What a proxy did, for the run's summary. */
export interface ProxyCounts {
  connections: number;
  droppedReplies: number;
  resets: number;
  /** Node-to-node connections refused or reset because a partition cuts their link. */
  cut: number;
}

/** Where a proxy sits in the partition table: the node it fronts, by the address it connects from. */
export interface ProxyPlace {
  links: NodeLinks;
  node: string;
}

/**
 * A proxy for the redis-server at `target` (127.0.0.1). The chaos cluster announces the proxy's port
 * as the node's own, so clients reach every node, after every MOVED, through a proxy, and replicas
 * reach their master through it too. A target that is down (killed master) refuses through the proxy.
 * Given a `place`, it tells a node's connection from a client's by its source address and refuses
 * (RST) the node-to-node connections a partition cuts, resetting those open when the cut comes.
 */
export class FaultyProxy {
  target: number | null = null;
  port = 0;
  readonly counts: ProxyCounts = { connections: 0, droppedReplies: 0, resets: 0, cut: 0 };
  private faults: ProxyFaults = NO_FAULTS;
  private readonly server: net.Server;
  private readonly open = new Set<Pair>();
  private readonly resetTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly random: Prng,
    private readonly place?: ProxyPlace,
  ) {
    this.server = net.createServer((client) => this.accept(client));
    this.resetTimer = setInterval(() => this.resetSome(), 250);
    this.resetTimer.unref();
    this.unsubscribe = place?.links.subscribe(() => this.resetCut()) ?? (() => {});
  }

  /** Listens on a port the kernel picks; resolves with it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  setFaults(faults: Partial<ProxyFaults>): void {
    this.faults = { ...NO_FAULTS, ...faults };
    if (!this.faults.holdReplication) for (const pair of this.open) this.release(pair);
  }

  async close(): Promise<void> {
    clearInterval(this.resetTimer);
    this.unsubscribe();
    for (const { client, upstream } of this.open) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Whether the link of a connection from `source` is cut now. */
  private isCut(source: string): boolean {
    return this.place !== undefined && !this.place.links.allows(source, this.place.node);
  }

  private accept(client: net.Socket): void {
    if (this.target === null) return void client.destroy();
    const source = plainAddress(client.remoteAddress);
    if (this.isCut(source)) {
      // Refused as a dead link refuses: the node's connect fails at once and it retries, as Redis does.
      this.counts.cut++;
      return void client.resetAndDestroy();
    }
    this.counts.connections++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: '127.0.0.1', port: this.target });
    upstream.setNoDelay(true);
    const pair: Pair = {
      source,
      client,
      upstream,
      toClient: createLane(upstream, client),
      replication: false,
      held: [],
    };
    this.open.add(pair);
    const toServer = createLane(client, upstream);
    // Armed by a client chunk whose reply is to be lost: that chunk still reaches the server and runs.
    let dropping = false;
    const end = () => {
      this.open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      if (!pair.replication && (chunk.includes('REPLCONF') || chunk.includes('PSYNC')))
        pair.replication = true;
      toServer(chunk, this.faults.latencyMs);
      if (!dropping && this.random.chance(this.faults.dropReplyRate)) {
        dropping = true;
        // A reply that never comes (a blocking command) still ends in a reset.
        setTimeout(() => this.reset(pair, 'drop'), 1000 + this.faults.latencyMs).unref();
      }
    });
    upstream.on('data', (chunk) => {
      if (dropping) this.reset(pair, 'drop');
      else if (pair.replication && this.faults.holdReplication) pair.held.push(chunk);
      else {
        this.release(pair);
        pair.toClient(chunk, this.faults.latencyMs);
      }
    });
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  /** Sends what was held back from a replica, in order. */
  private release(pair: Pair): void {
    for (const chunk of pair.held.splice(0)) pair.toClient(chunk, this.faults.latencyMs);
  }

  private reset(pair: Pair, why: 'drop' | 'reset' | 'cut'): void {
    if (!this.open.has(pair)) return;
    this.open.delete(pair);
    if (why === 'drop') this.counts.droppedReplies++;
    else if (why === 'cut') this.counts.cut++;
    else this.counts.resets++;
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
  }

  /** Resets every open connection whose link a partition now cuts (both of its sockets). */
  private resetCut(): void {
    for (const pair of [...this.open]) if (this.isCut(pair.source)) this.reset(pair, 'cut');
  }

  private resetSome(): void {
    if (this.faults.resetRate <= 0) return;
    for (const pair of [...this.open])
      if (this.random.chance(this.faults.resetRate)) this.reset(pair, 'reset');
  }
}
