// The one way every process connects to the store: an ioredis Cluster, or one Dragonfly node.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';

export type Store = Cluster | Redis;

export interface StoreOptions {
  /** A name shown by CLIENT LIST, to tell processes apart. */
  connectionName?: string;
}

/**
 * Opens the store of `config`. `maxRetriesPerRequest: null` is set on the node connections
 * explicitly because BullMQ checks only that field; failover and cluster-down retries wait 500 ms,
 * which measured far fewer "Too many Cluster redirections" than the defaults during a failover.
 */
export function createStore(
  config: Pick<Config, 'REDIS_NODES' | 'REDIS_MODE'>,
  options: StoreOptions = {},
): Store {
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: null,
    connectionName: options.connectionName,
    connectTimeout: 5000,
  };
  if (config.REDIS_MODE === 'dragonfly-emulated') {
    const [seed] = config.REDIS_NODES;
    if (!seed) throw new Error('REDIS_NODES names no node');
    return new Redis({ ...redisOptions, host: seed.host, port: seed.port });
  }
  return new Cluster(config.REDIS_NODES, {
    redisOptions,
    retryDelayOnFailover: 500,
    retryDelayOnClusterDown: 500,
    retryDelayOnTryAgain: 500,
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
  });
}

/** Resolves once the store answers, or rejects after `timeoutMs`. */
export async function waitForStore(store: Store, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await withTimeout(store.ping(), 1000, 'store ping');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The store did not answer within the time allowed. */
export class StoreTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = this.constructor.name;
  }
}

/** Rejects with a StoreTimeoutError when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(what, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
