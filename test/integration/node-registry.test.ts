// The node registry on the real cluster: a drain request is for the node instance it was made to, not its id.
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../shared/node-registry.js';
import { nodeStats } from '../support/node-stats.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE, { ttlMs: 60_000 });
afterAll(() => system.close());

const stats = (id: string, pid: number, startedAt: string) => nodeStats({ id, pid, started_at: startedAt });

describe('when a drained node is restarted under the same NODE_ID', () => {
  it('tells the instance it was asked of to drain, and not its successor', async () => {
    const first = stats('node-r', 101, '2026-01-01T00:00:00.000Z');
    await registry.heartbeat(first);
    expect(await registry.requestDrain('node-r')).toBe(true);
    expect(await registry.heartbeat(first)).toEqual({ drainRequested: true });

    // The first instance died before it could leave the registry; a supervisor starts another.
    const second = stats('node-r', 202, '2026-01-01T00:01:00.000Z');
    expect(await registry.heartbeat(second)).toEqual({ drainRequested: false });
    expect(await registry.heartbeat(second)).toEqual({ drainRequested: false });
    // A drain asked of the new instance still reaches it.
    expect(await registry.requestDrain('node-r')).toBe(true);
    expect(await registry.heartbeat(second)).toEqual({ drainRequested: true });
  });
});
