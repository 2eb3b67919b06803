import { NodeKey } from '@loopgate/node';
import { NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import WebSocket from 'ws';

export type TrpcFrame = {
  id: number | string | null;
  result?: { type: string; id?: string; data?: { json?: unknown } | unknown };
  error?: {
    json: {
      message: string;
      code: number;
      data: { gatewayCode: string; code: string; issues?: { path: string; message: string }[] };
    };
  };
};

export type OperatorSocket = {
  ws: WebSocket;
  /** The next frame the server sent (bounded wait). */
  next(timeoutMs?: number): Promise<TrpcFrame>;
  /** Frames until one with `id` arrives; returns that one. */
  answerTo(id: number | string, timeoutMs?: number): Promise<TrpcFrame>;
  /** Sends a query/mutation and waits for its answer. */
  call(
    id: number,
    path: string,
    input?: unknown,
    method?: 'query' | 'mutation',
  ): Promise<TrpcFrame>;
  closed: Promise<{ code: number; reason: string }>;
};

export type OperatorSocketOptions = {
  /**
   * Connection params; defaults to `{ token }`. A function gets the challenge
   * of this socket's upgrade response (what a node signs, see `nodeParams`).
   */
  params?: Record<string, string> | ((challenge: string) => Record<string, string>);
  headers?: Record<string, string>;
  /** false: never answer protocol pings (a peer whose process hung). */
  autoPong?: boolean;
  localAddress?: string;
};

/**
 * A `ws` socket speaking tRPC's wire format by hand, authenticated with
 * connectionParams: for frames no client library would send, and for
 * reading exactly what the gateway answered.
 */
export async function openOperatorSocket(
  url: string,
  token: string,
  options: OperatorSocketOptions = {},
): Promise<OperatorSocket> {
  const ws = new WebSocket(`${url}?connectionParams=1`, {
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.autoPong === false ? { autoPong: false } : {}),
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  let challenge = '';
  ws.once('upgrade', (response) => {
    challenge = String(response.headers[NODE_CHALLENGE_HEADER] ?? '');
  });
  const inbox: TrpcFrame[] = [];
  const waiters: ((frame: TrpcFrame) => void)[] = [];
  let closedWith: { code: number; reason: string } | undefined;
  const onClosed: (() => void)[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as TrpcFrame;
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else inbox.push(frame);
  });
  ws.on('error', () => {
    // a refused or reset socket shows up in `closed`
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => {
      closedWith = { code, reason: reason.toString() };
      resolve(closedWith);
      for (const fail of onClosed.splice(0)) fail();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)),
    );
    ws.once('error', reject);
  });
  const params = typeof options.params === 'function' ? options.params(challenge) : options.params;
  ws.send(JSON.stringify({ method: 'connectionParams', data: params ?? { token } }));

  const next = (timeoutMs = 5_000): Promise<TrpcFrame> => {
    const queued = inbox.shift();
    if (queued) return Promise.resolve(queued);
    const closedError = () =>
      new Error(`the gateway closed the socket (${closedWith?.code} ${closedWith?.reason})`);
    if (closedWith) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const waiter = (frame: TrpcFrame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const forget = () => {
        clearTimeout(timer);
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
      };
      const timer = setTimeout(() => {
        forget();
        reject(new Error('no frame from the gateway in time'));
      }, timeoutMs);
      waiters.push(waiter);
      onClosed.push(() => {
        forget();
        reject(closedError());
      });
    });
  };
  const answerTo = async (id: number | string, timeoutMs = 5_000): Promise<TrpcFrame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await next(Math.max(1, deadline - Date.now()));
      if (frame.id === id) return frame;
    }
  };
  return {
    ws,
    next,
    answerTo,
    closed,
    call: (id, path, input = null, method = 'query') => {
      ws.send(JSON.stringify({ id, method, params: { path, input: { json: input } } }));
      return answerTo(id);
    },
  };
}

/** Creates an operator token over a socket of `adminToken`; returns its secret. */
export async function createOperatorToken(
  url: string,
  adminToken: string,
  name: string,
  scope: 'operator.read' | 'operator.write' | 'operator.admin',
): Promise<string> {
  const admin = await openOperatorSocket(url, adminToken);
  try {
    const created = await admin.call(1, 'tokens.create', { name, scope }, 'mutation');
    if (created.error) throw new Error(`tokens.create failed: ${created.error.json.message}`);
    return resultData<{ token: string }>(created).token;
  } finally {
    admin.ws.close();
    await admin.closed;
  }
}

/** The JSON payload of a successful answer. */
export function resultData<T = unknown>(frame: TrpcFrame): T {
  const data = frame.result?.data as { json?: unknown } | undefined;
  return data?.json as T;
}

/**
 * connectionParams of a node proving `key` over a socket's challenge: a
 * paired node with `nodeId`, else a node that may only ask to pair (a fresh
 * key each call when none is given).
 */
export function nodeParams(
  key: NodeKey = NodeKey.generate(),
  nodeId?: string,
): (challenge: string) => Record<string, string> {
  return (challenge) => ({ role: 'node', ...key.prove(challenge, nodeId) });
}

/**
 * Once `ws` opens, sends the connectionParams of a node asking to pair (`key`
 * over this socket's challenge), then runs `then`. A crowd of sockets may
 * share one key: each signature is still over its own socket's challenge.
 */
export function proveNodeOnOpen(ws: WebSocket, key: NodeKey, then: () => void): void {
  const prove = nodeParams(key);
  let challenge = '';
  ws.once('upgrade', (response) => {
    challenge = String(response.headers[NODE_CHALLENGE_HEADER]);
  });
  ws.once('open', () => {
    ws.send(JSON.stringify({ method: 'connectionParams', data: prove(challenge) }));
    then();
  });
}
