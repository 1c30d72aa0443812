// Takeover on death: a node beats its liveness, and when another node is known dead, one survivor
// releases that node's step locks and runs BullMQ's stalled check at once, so its steps resume in
// about a second or two instead of after LOCK_MS plus a stalled interval (docs/adr/0015).
import { randomBytes } from 'node:crypto';
import { type Config, ConfigError } from '../shared/config.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { createLiveness, type SilentInstance } from '../shared/node-registry.js';
import { type Store, withTimeout } from '../shared/store.js';
import { createLockRelease } from './takeover-store.js';

/** A new instance name for one run of node `nodeId`: `<NODE_ID>@<random>`. */
export const newInstance = (nodeId: string) => `${nodeId}@${randomBytes(4).toString('hex')}`;

export interface TakeoverDeps {
  config: Pick<Config, 'LIVENESS_MS' | 'DEATH_TIMEOUT_MS' | 'LOCK_MS' | 'STALLED_INTERVAL_MS'>;
  store: Store;
  keyspace: Keyspace;
  /** This run of the node: its lock tokens start `<instance>/`. */
  instance: string;
  /** The name of this node's store connections; '' when they have none (then only silence counts). */
  connectionName: string;
  /** The node's shard Workers, index = shard. */
  workers: ReadonlyArray<{ checkStalledNow(): Promise<string[]> }>;
  log: Logger;
}

/** Names of every client connected to any master of `store`. */
async function connectedNames(store: Store, timeoutMs: number): Promise<Set<string>> {
  const masters = 'nodes' in store ? store.nodes('master') : [store];
  const lists = await withTimeout(
    Promise.all(masters.map((m) => m.client('LIST') as Promise<string>)),
    timeoutMs,
    'CLIENT LIST',
  );
  const names = new Set<string>();
  for (const line of lists.join('\n').split('\n')) {
    const field = line.split(' ').find((f) => f.startsWith('name='));
    if (field && field.length > 5) names.add(field.slice(5));
  }
  return names;
}

export function createTakeover(deps: TakeoverDeps) {
  const { store, keyspace, instance, log } = deps;
  const { LIVENESS_MS: livenessMs, DEATH_TIMEOUT_MS: deathMs, LOCK_MS: lockMs } = deps.config;
  if (deathMs < 3 * livenessMs) {
    throw new ConfigError(`DEATH_TIMEOUT_MS=${deathMs}: at least 3 × LIVENESS_MS (${3 * livenessMs})`);
  }
  const liveness = createLiveness(store, keyspace.namespace);
  const release = createLockRelease(store);
  // A claim outlives the dead node's locks and one stalled check: past it, the lock path has
  // recovered its steps anyway, and a survivor may try again.
  const claimMs = lockMs + deps.config.STALLED_INTERVAL_MS;
  const beatOptions = {
    // Late by half a beat or more: worth a CLIENT LIST, which a live node passes (a paused process
    // keeps its sockets), and a SIGKILLed one fails at once (the kernel closed them).
    suspectMs: Math.round(1.5 * livenessMs),
    silenceMs: 2 * livenessMs,
    // After the registry was out of reach for every node (a failover), nobody is judged for a
    // lock's life, since the nodes reconnect at different times; a death meanwhile is found by the
    // lock path no later than it would be anyway.
    quietMs: Math.max(deathMs, lockMs),
  };
  const handling = new Map<string, Promise<void>>();
  const claimedElsewhere = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let failing = false;
  let declaredBy: string | null = null;

  /** The silent instances that are dead: silent past the timeout, or with every connection closed. */
  async function judge(silent: SilentInstance[]): Promise<Array<SilentInstance & { why: string }>> {
    const dead = silent.filter((s) => s.ageMs >= deathMs).map((s) => ({ ...s, why: 'silent' }));
    const suspects = silent.filter((s) => s.ageMs < deathMs && s.connection !== '');
    if (suspects.length === 0) return dead;
    // A store that does not answer CLIENT LIST proves nothing: those wait for the timeout.
    const names = await connectedNames(store, livenessMs).catch(() => null);
    if (!names) return dead;
    const gone = suspects.filter((s) => !names.has(s.connection));
    return [...dead, ...gone.map((s) => ({ ...s, why: 'connections-closed' }))];
  }

  function takeOver(dead: SilentInstance & { why: string }): void {
    if (handling.has(dead.instance) || claimedElsewhere.has(`${dead.instance} ${dead.lastBeat}`)) return;
    const done = cleanUp(dead).finally(() => handling.delete(dead.instance));
    handling.set(dead.instance, done);
  }

  async function cleanUp(dead: SilentInstance & { why: string }): Promise<void> {
    const fields = { dead_instance: dead.instance, silent_ms: dead.ageMs, why: dead.why };
    try {
      if (!(await liveness.claim(dead, instance, claimMs))) {
        if (claimedElsewhere.size > 1000) claimedElsewhere.clear();
        claimedElsewhere.add(`${dead.instance} ${dead.lastBeat}`);
        log.info({
          event: 'takeover-skipped',
          ...fields,
          reason: 'claimed by another node, or it beat again',
        });
        return;
      }
      const started = Date.now();
      log.info({ event: 'takeover-claimed', ...fields });
      // Each shard on its own: a shard whose master is failing over keeps the lock path, the others
      // go back to wait now.
      const results = await Promise.allSettled(
        keyspace.all().map(async (keys) => {
          const released = await release(keys, dead.instance);
          return {
            released,
            moved: released.length > 0 ? await deps.workers[keys.shard]!.checkStalledNow() : [],
          };
        }),
      );
      const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.flatMap((r, shard) =>
        r.status === 'rejected' ? [{ shard, err: r.reason }] : [],
      );
      // Kept while a shard failed: the claim expires and a survivor tries again (the backstop meanwhile).
      if (failed.length === 0) await liveness.forget(dead.instance, dead.lastBeat);
      log[failed.length ? 'error' : 'warn']({
        event: 'node-taken-over',
        ...fields,
        released: done.reduce((n, d) => n + d.released.length, 0),
        job_ids: done.flatMap((d) => d.released),
        moved_to_wait: done.reduce((n, d) => n + d.moved.length, 0),
        shards_failed: failed,
        took_ms: Date.now() - started,
      });
    } catch (error) {
      // Its locks still expire: BullMQ's periodic stalled check recovers the steps (the backstop).
      log.error({ event: 'takeover-failed', ...fields, err: error });
    }
  }

  function beat(): void {
    // A slow store: never two beats in flight.
    beating ??= beatOnce().finally(() => {
      beating = undefined;
    });
  }

  async function beatOnce(): Promise<void> {
    try {
      const { silent, claimedBy } = await withTimeout(
        liveness.beat(instance, deps.connectionName, beatOptions),
        deathMs,
        'liveness beat',
      );
      failing = false;
      if (claimedBy && claimedBy !== declaredBy) {
        // This node was taken for dead (paused past DEATH_TIMEOUT_MS): its writes to the steps it
        // held are refused by the fence from now on, and it goes on with others.
        log.warn({ event: 'declared-dead', by: claimedBy });
      }
      declaredBy = claimedBy;
      if (silent.length > 0) for (const dead of await judge(silent)) takeOver(dead);
    } catch (error) {
      if (!failing) log.warn({ event: 'liveness-beat-failed', err: error });
      failing = true;
    }
  }

  return {
    instance,
    start(): void {
      beat();
      timer = setInterval(beat, livenessMs);
    },
    /** Stops beating and leaves the registry's liveness set, so a node that left is not taken for dead. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await beating;
      await Promise.all(handling.values());
      await withTimeout(liveness.forget(instance), 2000, 'liveness forget').catch((error) =>
        log.warn({ event: 'liveness-forget-failed', err: error }),
      );
    },
  };
}

export type Takeover = ReturnType<typeof createTakeover>;
