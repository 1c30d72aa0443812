// Free ports for what the tooling starts (local clusters, bench APIs, test probes): one finder.
import net from 'node:net';

/** Whether 127.0.0.1:port can be bound right now (the real test; a connect probe misses listeners on other addresses). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface PortSearch {
  /** The range searched, `to` excluded. */
  from: number;
  to: number;
  /** Consecutive ports wanted (a cluster's nodes); default 1. */
  count?: number;
  /** Another port that must be free with each one (a cluster node's bus port). */
  alsoFree?: (port: number) => number;
  /** Start at a random place in the range, so parallel runs spread out; default: at `from`. */
  random?: boolean;
}

// Ports already given out by this process: processes started side by side must not get the same one
// before the first has bound it.
const handedOut = new Set<number>();

/**
 * The first port (of `count` consecutive ones) in the range that 127.0.0.1 can bind now and that
 * this process has not given out yet. Only a candidate: another process can bind it before the
 * child that is told it does, so a caller that must be sure retries on a failed bind.
 */
export async function findFreePort({
  from,
  to,
  count = 1,
  alsoFree,
  random = false,
}: PortSearch): Promise<number> {
  const slots = Math.floor((to - from) / count);
  const first = random ? Math.floor(Math.random() * slots) : 0;
  for (let i = 0; i < slots; i++) {
    const base = from + ((first + i) % slots) * count;
    const ports = Array.from({ length: count }, (_, k) => base + k);
    const wanted = alsoFree ? [...ports, ...ports.map(alsoFree)] : ports;
    if (wanted.some((port) => handedOut.has(port))) continue;
    for (const port of wanted) handedOut.add(port); // reserved before the probe awaits
    let free = true;
    for (const port of wanted) if (free) free = await isPortFree(port);
    if (free) return base;
    for (const port of wanted) handedOut.delete(port);
  }
  throw new Error(`no ${count} consecutive free port(s) in ${from}-${to - 1}`);
}
