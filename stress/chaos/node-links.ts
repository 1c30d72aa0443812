// The partition table of the chaos cluster: which node-to-node links are cut, consulted by every proxy.

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:127.0.0.12`). */
export const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:/, '');

/**
 * Each store node connects to the others (cluster bus, replication) from a loopback address of its
 * own, and clients connect from any other address (127.0.0.1). A link between two nodes passes while
 * both are on one side; a client's connection always passes, so clients on either side of a
 * partition keep reaching every node they reached before. Proxies subscribe and, on each change,
 * reset the connections that no longer pass.
 */
export class NodeLinks {
  private readonly side = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private sides = 0;

  constructor(addresses: readonly string[]) {
    for (const address of addresses) this.side.set(address, 0);
  }

  /** Whether `address` is a store node's own (a node-to-node connection), not a client's. */
  isNode(address: string): boolean {
    return this.side.has(plainAddress(address));
  }

  /** Whether a connection from `source` to the node whose address is `node` may pass now. */
  allows(source: string, node: string): boolean {
    const from = this.side.get(plainAddress(source));
    return from === undefined || from === this.side.get(node);
  }

  /** Puts `address` on a side of its own: cut from every other node, both ways; clients still reach it. */
  isolate(address: string): void {
    if (!this.side.has(address)) throw new RangeError(`${address} is no store node's address`);
    this.side.set(address, ++this.sides);
    this.changed();
  }

  /** Every node on one side again. */
  heal(): void {
    for (const address of this.side.keys()) this.side.set(address, 0);
    this.changed();
  }

  /** Whether any link is cut now. */
  get partitioned(): boolean {
    return [...this.side.values()].some((s) => s !== 0);
  }

  /** Calls `listener` after each change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
