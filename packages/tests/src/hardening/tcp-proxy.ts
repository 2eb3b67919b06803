import { connect, createServer, type Socket } from 'node:net';

export type RecordingProxy = {
  port: number;
  url: string;
  /** TCP connections accepted so far (each client dial is one). */
  readonly connections: number;
  /** The HTTP request head (request line and headers) of every connection, as sent. */
  readonly requestHeads: string[];
  /** While true, new dials are reset at once (the gateway looks unreachable); live ones stay. */
  refuse: boolean;
  close(): Promise<void>;
};

/**
 * A plain TCP relay in front of a gateway that counts dials and keeps what
 * each client sent before its first blank line: the upgrade request, where
 * a credential must never appear (it belongs in connectionParams, inside
 * the WebSocket).
 */
export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
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
      if (!headDone) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0) {
          headDone = true;
          requestHeads.push(head.slice(0, end));
        }
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
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const proxy: RecordingProxy = {
    refuse: false,
    port,
    url: `ws://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    requestHeads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
