import { connect, createServer, type Socket } from 'node:net';

export type CuttableProxy = {
  url: string;
  /** Drops every relayed connection and refuses new ones until `restore()`: the client's network is gone. */
  cut(): void;
  restore(): void;
  /** Connections accepted and relayed so far. */
  readonly accepted: number;
  close(): Promise<void>;
};

/**
 * A TCP relay to `127.0.0.1:<targetPort>` whose link a test can cut and
 * restore, so "the operator lost its connection while the run went on" is
 * deterministic: events published while cut are only reachable by resuming.
 */
export async function startCuttableProxy(targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let blocked = false;
  let accepted = 0;
  const server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
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
  return {
    url: `ws://127.0.0.1:${port}`,
    cut() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      blocked = false;
    },
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
