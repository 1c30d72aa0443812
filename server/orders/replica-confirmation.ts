// Acknowledging a placement only once replicas hold it: WAIT on the master of the order's shard.
import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../../shared/config.js';
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { keySlot } from '../../shared/sharding.js';
import type { Store } from '../../shared/store.js';
import { StoreUnavailableError } from '../errors.js';

export interface ReplicaConfirmationDeps {
  config: Pick<Config, 'WAIT_REPLICAS' | 'WAIT_TIMEOUT_MS' | 'REDIS_MODE'>;
  store: Store;
  keyspace: Keyspace;
  logger: Logger;
  intervalMs?: number;
}

/** What one WAIT asked for (replicas online when it was sent, at most WAIT_REPLICAS) and got. */
interface WaitReply {
  wanted: number;
  acked: number;
}

/** How fresh a replica count must be for a placement that found none to trust it. */
const RESAMPLE_MS = 250;

const address = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** Online replicas in the INFO replication text of a master. */
export function onlineReplicas(info: string): number {
  return info.split('\n').filter((line) => /^slave\d+:.*state=online/.test(line)).length;
}

/**
 * WAITs for min(WAIT_REPLICAS, online replicas of the shard's master), as a group commit: WAIT blocks
 * the connection it is sent on (the one every placement to that master shares), so one WAIT per
 * order serialised placements behind replica round trips. A confirmation arriving while a WAIT is
 * in flight on its master joins the next WAIT, sent as soon as that one returns; it covers every
 * write this connection made before it, so each caller's transaction (whose reply it already has) is
 * covered. Under load one WAIT confirms many orders; alone, an order waits for one WAIT as before. The replica count is read
 * from each master's INFO replication in the background, not from CLUSTER SLOTS: Redis 7 leaves a
 * replica out of CLUSTER SLOTS until it has received data, so a fresh cluster looked replica-less.
 * A master that has no replica online (say, just after a failover) refuses the placement (503).
 */
export function createReplicaConfirmation({
  config,
  store,
  keyspace,
  logger,
  intervalMs = 2000,
}: ReplicaConfirmationDeps) {
  const enabled = config.WAIT_REPLICAS > 0 && config.REDIS_MODE === 'cluster';
  const cluster = store as Cluster;
  let replicas = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  /** Per master: the WAIT on the wire, and the one that will follow it (shared by every joiner). */
  const inFlight = new Map<string, Promise<WaitReply>>();
  const following = new Map<string, Promise<WaitReply>>();

  function sendWait(node: Redis, key: string): Promise<WaitReply> {
    // At least one, even if a sample since masterOf found none online: then WAIT times out, a 503.
    const wanted = Math.max(1, Math.min(config.WAIT_REPLICAS, replicas.get(key) ?? 0));
    const sent = node
      .call('WAIT', wanted, config.WAIT_TIMEOUT_MS)
      .then((acked) => ({ wanted, acked: Number(acked) }));
    inFlight.set(key, sent);
    const clear = () => {
      if (inFlight.get(key) === sent) inFlight.delete(key);
    };
    sent.then(clear, clear);
    return sent;
  }

  /** Replicas that acknowledged a WAIT sent after the caller's writes on `node`. */
  function groupWait(node: Redis, key: string): Promise<WaitReply> {
    const queued = following.get(key);
    if (queued) return queued;
    const current = inFlight.get(key);
    if (!current) return sendWait(node, key);
    const next = current
      .catch(() => undefined)
      .then(() => {
        following.delete(key);
        return sendWait(node, key);
      });
    following.set(key, next);
    return next;
  }

  async function sample(): Promise<void> {
    const masters = cluster.nodes('master');
    const counts = await Promise.all(
      masters.map((node) =>
        node.info('replication').then(onlineReplicas, () => replicas.get(address(node)) ?? 0),
      ),
    );
    replicas = new Map(masters.map((node, i) => [address(node), counts[i]!]));
  }

  /** One INFO round at a time: callers that find no replica share the next sample. */
  let sampling: Promise<void> | undefined;
  let sampledAt = 0;
  /**
   * Samples again unless a sample ended in the last RESAMPLE_MS: while a master has no replica, every
   * placement to it looks, and without the bound each would send INFO to every master in turn.
   */
  function resample(): Promise<void> {
    if (!sampling && Date.now() - sampledAt < RESAMPLE_MS) return Promise.resolve();
    sampling ??= sample().finally(() => {
      sampling = undefined;
      sampledAt = Date.now();
    });
    return sampling;
  }

  /**
   * The connection of `shard`'s master and its address; undefined when WAIT is off. A master with no
   * replica online refuses: an order only the primary holds is lost by that primary's failover (the
   * chaos run lost two 202s placed on a master promoted a moment before, before its old master had
   * come back as its replica). The 503 names the key; once a replica is back, its retry is confirmed.
   */
  async function masterOf(shard: number): Promise<{ node: Redis; key: string } | undefined> {
    if (!enabled) return undefined;
    const master = cluster.slots[keySlot(`{${keyspace.shard(shard).tag}}`)]?.[0];
    const node = master ? cluster.nodes('master').find((n) => address(n) === master) : undefined;
    if (!node || !master) {
      throw new StoreUnavailableError(
        `the primary of shard ${shard} is not known (failing over?); retry with the same Idempotency-Key`,
      );
    }
    // The background sample may predate a replica that just synced: look again before refusing.
    if (!replicas.get(master)) await resample();
    if (!replicas.get(master)) {
      throw new StoreUnavailableError(
        'the order is stored on the primary, which has no replica online to confirm it; ' +
          'retry with the same Idempotency-Key to get the same order',
      );
    }
    return { node, key: master };
  }

  async function waitOn({ node, key }: { node: Redis; key: string }): Promise<void> {
    const { wanted, acked } = await groupWait(node, key);
    if (acked < wanted) {
      throw new StoreUnavailableError(
        `the order is stored on the primary but ${acked} of ${wanted} replicas confirmed it in time; ` +
          'retry with the same Idempotency-Key to get the same order',
      );
    }
  }

  return {
    /** Resolves once enough replicas acknowledged everything this process wrote so far to `shard`'s master. */
    async confirm(shard: number): Promise<void> {
      const master = await masterOf(shard);
      // The same connection that carried the MULTI: WAIT counts what this connection wrote.
      if (master) await waitOn(master);
    },
    /**
     * Resolves once enough replicas hold what a read of `shard` just returned, which another
     * connection (another API process, a connection since replaced) may have written. A bare WAIT
     * does not cover that: WAIT waits for the replication offset of "the write commands sent by
     * the current client" (its documented contract), i.e. the offset the master recorded for this
     * connection after its last write. Up to 7.0 Redis recorded it after every command, reads
     * included; since 7.2 (redis/redis#11713; compose runs 7.4) only after one that propagated, so
     * a WAIT after a read confirms nothing newer than this connection's last write. So the replay
     * first writes a fence key on the same connection: that write's offset is past everything the
     * master held when it ran, the read's data included, and the WAIT after it covers it.
     */
    async confirmRead(shard: number): Promise<void> {
      const master = await masterOf(shard);
      if (!master) return;
      // On the node directly, not through the cluster: a MOVED must fail this, not send the fence elsewhere.
      await master.node.set(`${keyspace.shard(shard).queuePrefix}:replica-fence`, '1', 'PX', 60_000);
      await waitOn(master);
    },
    start(): void {
      if (!enabled) return;
      void sample().catch((error) => logger.debug({ event: 'replica-sample-failed', err: error }));
      timer = setInterval(() => void sample().catch(() => undefined), intervalMs);
      timer.unref();
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

export type ReplicaConfirmation = ReturnType<typeof createReplicaConfirmation>;
