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

const address = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** Online replicas in the INFO replication text of a master. */
export function onlineReplicas(info: string): number {
  return info.split('\n').filter((line) => /^slave\d+:.*state=online/.test(line)).length;
}

/**
 * WAITs for min(WAIT_REPLICAS, online replicas of the shard's master). The replica count is read
 * from each master's INFO replication in the background, not from CLUSTER SLOTS: Redis 7 leaves a
 * replica out of CLUSTER SLOTS until it has received data, so a fresh cluster looked replica-less.
 * A master that has no replica (say, just after a failover) is not waited on: there is nothing to wait for.
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

  async function sample(): Promise<void> {
    const masters = cluster.nodes('master');
    const counts = await Promise.all(
      masters.map((node) =>
        node.info('replication').then(onlineReplicas, () => replicas.get(address(node)) ?? 0),
      ),
    );
    replicas = new Map(masters.map((node, i) => [address(node), counts[i]!]));
  }

  return {
    /** Resolves once enough replicas acknowledged everything written so far to `shard`'s master. */
    async confirm(shard: number): Promise<void> {
      if (!enabled) return;
      const master = cluster.slots[keySlot(`{${keyspace.shard(shard).tag}}`)]?.[0];
      const node = master ? cluster.nodes('master').find((n) => address(n) === master) : undefined;
      if (!node) return;
      if (!replicas.has(master!)) await sample();
      const wanted = Math.min(config.WAIT_REPLICAS, replicas.get(master!) ?? 0);
      if (wanted === 0) return;
      // The same connection that carried the MULTI: WAIT counts what this connection wrote.
      const acked = Number(await node.call('WAIT', wanted, config.WAIT_TIMEOUT_MS));
      if (acked < wanted) {
        throw new StoreUnavailableError(
          `the order is stored on the primary but ${acked} of ${wanted} replicas confirmed it in time; ` +
            'retry with the same Idempotency-Key to get the same order',
        );
      }
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
