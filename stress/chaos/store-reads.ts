// The checker's raw view of the store: every order record and idempotency binding of a namespace.
// It knows the key layout (`<ns>:{<tag>}:order:<id>` hashes with `doc`, `<ns>:{<tag>}:idem:<user>:<key>`
// strings `<order id> <hash>`) as data, the way an operator would, and imports no product code.
import { Cluster } from 'ioredis';
import type { OrderJson } from './order-json.js';

export interface StoreView {
  /** Every order record, by id. */
  records: Map<string, OrderJson>;
  /** Idempotency bindings: `<user>\n<key>` → order id. */
  bindings: Map<string, string>;
  /** The cluster slot of each record's key (CLUSTER KEYSLOT), to tell which master held it. */
  slots: Map<string, number>;
  /** The slot of the /stats counters (`<ns>:{registry}:activity:*`, OPERATIONS.md). */
  statsSlot: number;
}

export const bindingKey = (user: string, key: string) => `${user}\n${key}`;

/** The store read directly: `natMap` maps the addresses the nodes announce (proxies) to their real ones. */
export interface StoreAccess {
  seeds: Array<{ host: string; port: number }>;
  natMap: Record<string, { host: string; port: number }>;
}

async function scanAll(node: { scan: Cluster['scan'] }, match: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Reads every record and binding of `namespace` from every master, straight from the nodes. */
export async function readStore(access: StoreAccess, namespace: string): Promise<StoreView> {
  const cluster = new Cluster(access.seeds, {
    natMap: access.natMap,
    redisOptions: { connectTimeout: 5000, connectionName: 'chaos-checker' },
    slotsRefreshTimeout: 5000,
  });
  cluster.on('error', () => {}); // a failed read rejects its command; the event adds nothing
  try {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('end', () => reject(new Error('the checker could not reach the store')));
    });
    const masters = cluster.nodes('master');
    const [recordKeys, bindingKeys] = await Promise.all([
      Promise.all(masters.map((m) => scanAll(m, `${namespace}:{*}:order:*`))).then((k) => k.flat()),
      Promise.all(masters.map((m) => scanAll(m, `${namespace}:{*}:idem:*`))).then((k) => k.flat()),
    ]);
    const records = new Map<string, OrderJson>();
    const slots = new Map<string, number>();
    for (const key of recordKeys) {
      const id = key.slice(key.lastIndexOf(':order:') + 7);
      const doc = await cluster.hget(key, 'doc');
      if (doc) records.set(id, JSON.parse(doc) as OrderJson);
      slots.set(id, Number(await masters[0]!.call('CLUSTER', 'KEYSLOT', key)));
    }
    const bindings = new Map<string, string>();
    for (const key of bindingKeys) {
      const value = await cluster.get(key);
      const [user, idemKey] = key.slice(key.lastIndexOf(':idem:') + 6).split(':');
      if (value && user !== undefined && idemKey !== undefined)
        bindings.set(bindingKey(decodeURIComponent(user), decodeURIComponent(idemKey)), value.split(' ')[0]!);
    }
    const statsSlot = Number(
      await masters[0]!.call('CLUSTER', 'KEYSLOT', `${namespace}:{registry}:activity:totals`),
    );
    return { records, bindings, slots, statsSlot };
  } finally {
    cluster.disconnect();
  }
}
