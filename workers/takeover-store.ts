// Releases, in one shard's slot, the step locks a dead node instance still holds.
import type { ShardKeys } from '../shared/keys.js';
import type { Store } from '../shared/store.js';

// Every lock token of a node instance starts with `<instance>/` (GatedWorker sets the Worker id
// BullMQ builds its tokens from), so the lock itself names its holder: no list of the node's jobs,
// which a heartbeat would carry up to one beat late, is needed. A lock is released only while that
// instance's token still holds it; one that expired and was taken by a live node is left alone.
// Released jobs join the `stalled` set and the stalled-check mark is cleared, so that BullMQ's own
// stalled check, run next, moves them back to wait exactly as after a lock expiry (attempt counted
// in `stc`, a `stalled` event).
// KEYS: active list, stalled set, stalled-check key. ARGV: queue key prefix, token prefix.
const RELEASE = `
local released = {}
local prefix = ARGV[2]
for _, jobId in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local lockKey = ARGV[1] .. jobId .. ':lock'
  local token = redis.call('GET', lockKey)
  if token and string.sub(token, 1, #prefix) == prefix then
    redis.call('DEL', lockKey)
    redis.call('SADD', KEYS[2], jobId)
    table.insert(released, jobId)
  end
end
if #released > 0 then redis.call('DEL', KEYS[3]) end
return released`;

/** The token prefix of every lock `instance` takes: GatedWorker ids are `<instance>/s<shard>`. */
export const tokenPrefixOf = (instance: string) => `${instance}/`;

/** The release script of one store. */
export function createLockRelease(store: Store) {
  store.defineCommand('ofTakeoverRelease', { numberOfKeys: 3, lua: RELEASE });
  const script = (store as unknown as { ofTakeoverRelease: (...args: string[]) => Promise<string[]> })
    .ofTakeoverRelease;

  /** Releases the locks of `instance` in the shard of `keys`; resolves with the job ids released. */
  return (keys: ShardKeys, instance: string): Promise<string[]> =>
    script.call(
      store,
      keys.queueKey('active'),
      keys.queueKey('stalled'),
      keys.queueKey('stalled-check'),
      keys.queueKey(''),
      tokenPrefixOf(instance),
    );
}
