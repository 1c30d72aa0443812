// The chaos proxy tells a store node's connection from a client's by its source address, and a
// partition cuts only node-to-node links. Real sockets on loopback (any 127.0.0.0/8 address is local
// on Linux), an echo server standing in for the node: no Redis, and no mock of one.
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeLinks } from '../../stress/chaos/node-links.js';
import { createPrng } from '../../stress/chaos/prng.js';
import { FaultyProxy } from '../../stress/chaos/proxy.js';

const FRONTED = '127.0.0.11';
const PEER = '127.0.0.12';
const OTHER = '127.0.0.13';

let echo: net.Server;
let links: NodeLinks;
let proxy: FaultyProxy;
const sockets = new Set<net.Socket>();

beforeEach(async () => {
  echo = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  links = new NodeLinks([FRONTED, PEER, OTHER]);
  proxy = new FaultyProxy(createPrng('proxy-test'), { links, node: FRONTED });
  proxy.target = (echo.address() as net.AddressInfo).port;
  await proxy.listen();
});

afterEach(async () => {
  await proxy.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

/** A connection to the proxy from `localAddress` (what is written waits for the connect). */
function connectFrom(localAddress: string): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port, localAddress });
  sockets.add(socket);
  socket.on('error', () => {});
  return socket;
}

/** 'echoed' when `text` comes back through the proxy, else how the connection ended. */
function roundTrip(socket: net.Socket, text: string): Promise<'echoed' | 'reset' | 'closed'> {
  return new Promise((resolve) => {
    socket.once('data', (chunk) => resolve(chunk.toString() === text ? 'echoed' : 'closed'));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNRESET' ? 'reset' : 'closed'),
    );
    socket.once('close', () => resolve('closed'));
    socket.write(text);
  });
}

describe('a proxy with a place in the partition table', () => {
  it('passes clients and nodes alike while nothing is cut', async () => {
    expect(await roundTrip(connectFrom('127.0.0.1'), 'client')).toBe('echoed');
    expect(await roundTrip(connectFrom(PEER), 'peer')).toBe('echoed');
    expect(proxy.counts).toMatchObject({ connections: 2, cut: 0 });
  });

  describe('when the node it fronts is isolated', () => {
    it('resets the open node connections, refuses new ones, and keeps serving clients', async () => {
      const client = connectFrom('127.0.0.1');
      const peer = connectFrom(PEER);
      expect(await roundTrip(peer, 'before')).toBe('echoed');
      const ended = new Promise<string>((resolve) =>
        peer.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error')),
      );

      links.isolate(FRONTED);
      expect(await ended).toBe('ECONNRESET');
      expect(await roundTrip(client, 'during')).toBe('echoed');
      expect(await roundTrip(connectFrom('127.0.0.1'), 'new client')).toBe('echoed');
      // The kernel completes the handshake before the proxy sees the source; the proxy answers RST.
      expect(await roundTrip(connectFrom(OTHER), 'refused')).toBe('reset');
      expect(proxy.counts.cut).toBe(2);
    });
  });

  describe('when another node is isolated', () => {
    it('cuts that node alone; the nodes on this side still pass', async () => {
      links.isolate(PEER);
      expect(await roundTrip(connectFrom(PEER), 'cut')).toBe('reset');
      expect(await roundTrip(connectFrom(OTHER), 'same side')).toBe('echoed');
    });
  });

  describe('when the partition heals', () => {
    it('lets the node connect again', async () => {
      links.isolate(FRONTED);
      expect(await roundTrip(connectFrom(PEER), 'cut')).toBe('reset');
      links.heal();
      expect(links.partitioned).toBe(false);
      expect(await roundTrip(connectFrom(PEER), 'healed')).toBe('echoed');
    });
  });

  it('treats an address that is no node of the table as a client, even during a partition', async () => {
    links.isolate(FRONTED);
    expect(links.isNode('127.0.0.1')).toBe(false);
    expect(links.isNode(`::ffff:${PEER}`)).toBe(true);
    expect(await roundTrip(connectFrom('127.0.0.99'), 'stranger')).toBe('echoed');
  });
});
