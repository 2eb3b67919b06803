import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');
const TSX_LOADER = createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx');

/** Messages a bench child sends its parent over IPC. */
export type ChildReply = { id?: number; [key: string]: unknown };

export type SpawnOptions = {
  /** Extra node flags (`--cpu-prof`, `--expose-gc`, ...). */
  nodeArgs?: string[];
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long the child may take to say it is ready (default 30 s). */
  readyTimeoutMs?: number;
};

/**
 * A child process the bench drives over IPC: it announces itself with a
 * `{ type: 'ready', ... }` message, then answers `{ id, op, ... }` requests
 * with `{ id, ... }`. Every server under test runs in one of these, so the
 * measuring client never shares a process (or an event loop) with it.
 */
export class BenchChild {
  readonly process: ChildProcess;
  readonly ready: Promise<ChildReply>;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve(v: ChildReply): void; reject(e: Error): void }>();
  #exited = false;
  readonly exited: Promise<number | null>;

  constructor(host: { entry: string; prebuilt: boolean }, options: SpawnOptions = {}) {
    const entry = host.entry;
    const loader = host.prebuilt ? [] : ['--conditions=@loopgate/source', '--import', TSX_LOADER];
    this.process = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), ...loader, entry, ...(options.args ?? [])],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...options.env },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    this.exited = new Promise((resolvePromise) => {
      this.process.once('exit', (code) => {
        this.#exited = true;
        for (const w of this.#waiting.values())
          w.reject(new Error(`${entry} exited (code ${code})`));
        this.#waiting.clear();
        resolvePromise(code);
      });
    });
    this.ready = new Promise((resolvePromise, reject) => {
      const readyMs = options.readyTimeoutMs ?? 30_000;
      const timer = setTimeout(
        () => reject(new Error(`${entry} did not become ready within ${readyMs} ms`)),
        readyMs,
      );
      const onMessage = (msg: ChildReply) => {
        if (msg.type !== 'ready') return;
        clearTimeout(timer);
        this.process.off('message', onMessage);
        resolvePromise(msg);
      };
      this.process.on('message', onMessage);
      this.process.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${entry} exited before it was ready (code ${code})`));
      });
    });
    // Marks the rejection handled here; callers that await `ready` still see it.
    this.ready.catch(() => {});
    this.process.on('message', (msg: ChildReply) => {
      if (typeof msg.id !== 'number') return;
      const waiter = this.#waiting.get(msg.id);
      if (!waiter) return;
      this.#waiting.delete(msg.id);
      if (typeof msg.error === 'string') waiter.reject(new Error(msg.error));
      else waiter.resolve(msg);
    });
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  request<T extends ChildReply = ChildReply>(
    op: string,
    params: Record<string, unknown> = {},
    timeoutMs = 60_000,
  ): Promise<T> {
    if (this.#exited) return Promise.reject(new Error('child has exited'));
    const id = this.#nextId++;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`child request ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolvePromise(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.process.send({ id, op, ...params });
    });
  }

  /** Asks the child to stop cleanly (it flushes `--cpu-prof` on a normal exit), then kills it if it lingers. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    // A child that cannot answer `stop` is killed below; its reason does not change that.
    await this.request('stop', {}, 5_000).catch(() => {});
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The child side: announce readiness and serve requests until `stop`. */
export function serveParent(
  handlers: Record<string, (msg: Record<string, unknown>) => unknown>,
  onStop: () => Promise<void>,
): void {
  process.on('message', async (raw: Record<string, unknown>) => {
    const id = raw.id as number;
    const op = raw.op as string;
    if (op === 'stop') {
      await onStop();
      process.send?.({ id });
      process.disconnect?.();
      // let the IPC reply flush; --cpu-prof writes its profile on this normal exit
      setImmediate(() => process.exit(0));
      return;
    }
    const handler = handlers[op];
    if (!handler) {
      process.send?.({ id, error: `unknown op ${op}` });
      return;
    }
    try {
      const result = (await handler(raw)) ?? {};
      process.send?.({ id, ...(result as object) });
    } catch (error) {
      process.send?.({ id, error: error instanceof Error ? error.message : String(error) });
    }
  });
  // the bench died: do not linger as an orphan holding a port
  process.on('disconnect', () => {
    void onStop().finally(() => process.exit(0));
  });
}

/** Resident set after a full GC when the child runs with `--expose-gc`. */
export function settledRss(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().rss;
}

/** User + system CPU this process has used, in microseconds. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
