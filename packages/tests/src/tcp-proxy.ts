import { connect, createServer, type Socket } from 'node:net';

export type TcpProxy = {
  port: number;
  url: string;
  /** TCP connections accepted and relayed so far (each client dial is one). */
  readonly connections: number;
  /** The HTTP request head (request line and headers) of every connection, as sent. */
  readonly requestHeads: string[];
  /** While true, new dials are reset at once (the gateway looks unreachable); live ones stay. */
  refuse: boolean;
  /** Drops every relayed connection and refuses new ones until `restore()`: the client's network is gone. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
};

/**
 * A plain TCP relay to `127.0.0.1:<targetPort>` that a test controls: it
 * counts dials, keeps what each client sent before its first blank line (the
 * upgrade request, where a credential must never appear), can refuse new
 * dials, and can cut the link so "the client lost its network" is
 * deterministic.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const requestHeads: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    if (proxy.refuse) {
      client.resetAndDestroy();
      return;
    }
    connections++;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let head = '';
    let headDone = false;
    client.on('data', (chunk: Buffer) => {
      if (headDone) return;
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) {
        headDone = true;
        requestHeads.push(head.slice(0, end));
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const proxy: TcpProxy = {
    refuse: false,
    port,
    url: `ws://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    requestHeads,
    cut() {
      proxy.refuse = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      proxy.refuse = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
