// One direction of a proxied TCP connection, with added latency that never reorders the stream.
import type net from 'node:net';

/**
 * One direction of a connection: chunks leave in arrival order, each no earlier than its arrival +
 * latency. One FIFO and one timer, never a timer per chunk: timers of different delays that expire
 * in the same millisecond may fire in either order, and a TCP stream delivered out of order makes a
 * client pair replies with the wrong commands (a bug of the proxy that looks like one of the system).
 */
export function createLane(src: net.Socket, dst: net.Socket) {
  const queue: Array<{ chunk: Buffer; at: number }> = [];
  let timer: NodeJS.Timeout | undefined;
  const write = (chunk: Buffer) => {
    if (dst.destroyed) return;
    // Backpressure: a slow reader pauses the writer instead of growing our buffers.
    if (!dst.write(chunk)) {
      src.pause();
      dst.once('drain', () => src.resume());
    }
  };
  const pump = () => {
    timer = undefined;
    while (queue.length > 0 && queue[0]!.at <= Date.now()) write(queue.shift()!.chunk);
    if (queue.length > 0) timer = setTimeout(pump, queue[0]!.at - Date.now());
  };
  return (chunk: Buffer, latencyMs: number) => {
    if (queue.length === 0 && latencyMs <= 0) return write(chunk);
    queue.push({ chunk, at: Date.now() + latencyMs });
    if (timer === undefined) pump();
  };
}
