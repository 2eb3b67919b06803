import { execFile } from 'node:child_process';
import { isIP } from 'node:net';

/**
 * Confirms a Tailscale Serve identity with the local Tailscale daemon.
 *
 * Serve proxies a tailnet request onto loopback and adds
 * `Tailscale-User-Login`; but any local process can send that header too.
 * So the header only counts once `tailscale whois --json <client address>`
 * (the address Serve put in `X-Forwarded-For`) answers with the same login
 * in `UserProfile.LoginName`. The CLI is run with execFile (no shell, the
 * address validated as an IP first), under a timeout and an output cap;
 * answers are cached briefly per address and concurrent lookups for one
 * address share one process.
 */

export type WhoisVerdict = { ok: true; login: string } | { ok: false; reason: string };

type Cached = { expiresAt: number; login: string | undefined; reason: string };

export type TailscaleWhoisOptions = {
  /** The CLI to run; `tailscale` from PATH by default. */
  binary?: string;
  timeoutMs?: number;
  /** How long a login is trusted for one address. */
  cacheTtlMs?: number;
  /** How long a failed lookup is remembered (so a flood cannot spawn a process per request). */
  errorTtlMs?: number;
  maxCachedAddresses?: number;
  /** Lookups running at once; more are refused at once rather than spawning a process each. */
  maxConcurrent?: number;
};

const WHOIS_MAX_OUTPUT_BYTES = 256 * 1024;

export class TailscaleWhois {
  readonly #binary: string;
  readonly #timeoutMs: number;
  readonly #cacheTtlMs: number;
  readonly #errorTtlMs: number;
  readonly #maxCached: number;
  readonly #maxConcurrent: number;
  readonly #cache = new Map<string, Cached>();
  readonly #inFlight = new Map<string, Promise<Cached>>();
  #availability: { expiresAt: number; text: Promise<string> } | undefined;

  constructor(options: TailscaleWhoisOptions = {}) {
    this.#binary = options.binary ?? 'tailscale';
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    this.#cacheTtlMs = options.cacheTtlMs ?? 30_000;
    this.#errorTtlMs = options.errorTtlMs ?? 5_000;
    this.#maxCached = options.maxCachedAddresses ?? 1_000;
    this.#maxConcurrent = options.maxConcurrent ?? 4;
  }

  /** Whether `headerLogin` is the tailnet user the daemon says owns `clientAddress`. */
  async verify(headerLogin: string, clientAddress: string): Promise<WhoisVerdict> {
    if (isIP(clientAddress) === 0)
      return { ok: false, reason: 'x-forwarded-for is not a single IP address' };
    const answer = await this.#lookup(clientAddress);
    if (answer.login === undefined) return { ok: false, reason: answer.reason };
    if (normaliseLogin(answer.login) !== normaliseLogin(headerLogin))
      return { ok: false, reason: 'tailscale-user-login does not match tailscale whois' };
    return { ok: true, login: answer.login };
  }

  /** For `status`: whether identities can be verified here, or why not (probed at most every cacheTtlMs). */
  availability(): Promise<string> {
    const now = Date.now();
    if (this.#availability && this.#availability.expiresAt > now) return this.#availability.text;
    const text = this.#run(['version']).then((result) =>
      result.ok
        ? 'verified via whois'
        : `unavailable: ${result.reason} (identity headers are ignored)`,
    );
    this.#availability = { expiresAt: now + this.#cacheTtlMs, text };
    return text;
  }

  async #lookup(address: string): Promise<Cached> {
    const now = Date.now();
    const cached = this.#cache.get(address);
    if (cached && cached.expiresAt > now) return cached;
    const pending = this.#inFlight.get(address);
    if (pending) return pending;
    if (this.#inFlight.size >= this.#maxConcurrent)
      return { login: undefined, reason: 'too many tailscale whois lookups at once', expiresAt: 0 };
    const lookup = this.#whois(address).finally(() => this.#inFlight.delete(address));
    this.#inFlight.set(address, lookup);
    return lookup;
  }

  async #whois(address: string): Promise<Cached> {
    const result = await this.#run(['whois', '--json', address]);
    const login = result.ok ? loginFromWhois(result.stdout) : undefined;
    const entry: Cached = {
      login,
      reason: result.ok ? 'tailscale whois gave no UserProfile.LoginName' : result.reason,
      expiresAt: Date.now() + (login === undefined ? this.#errorTtlMs : this.#cacheTtlMs),
    };
    if (this.#cache.size >= this.#maxCached) {
      // Oldest first (Map keeps insertion order); a re-lookup costs one short process.
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.delete(address);
    this.#cache.set(address, entry);
    return entry;
  }

  #run(args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; reason: string }> {
    return new Promise((resolve) => {
      execFile(
        this.#binary,
        args,
        {
          shell: false,
          timeout: this.#timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: WHOIS_MAX_OUTPUT_BYTES,
          windowsHide: true,
        },
        (error, stdout) => {
          if (!error) return resolve({ ok: true, stdout: String(stdout) });
          const code = (error as NodeJS.ErrnoException).code;
          const reason =
            code === 'ENOENT'
              ? 'the tailscale CLI was not found on PATH'
              : (error as { killed?: boolean }).killed
                ? `tailscale ${args[0]} did not answer within ${this.#timeoutMs} ms`
                : `tailscale ${args[0]} failed (${code ?? 'error'})`;
          resolve({ ok: false, reason });
        },
      );
    });
  }
}

/** `UserProfile.LoginName` from `tailscale whois --json` output (the CLI may print a warning line first). */
export function loginFromWhois(stdout: string): string | undefined {
  const start = stdout.indexOf('{');
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(stdout.slice(start)) as { UserProfile?: { LoginName?: unknown } };
    const login = parsed?.UserProfile?.LoginName;
    return typeof login === 'string' && login.trim() ? login.trim() : undefined;
  } catch {
    // not JSON: treated as no answer, cached on the short error TTL
    return undefined;
  }
}

function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}
