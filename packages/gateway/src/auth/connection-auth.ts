import {
  ConnectionParams,
  type ConnectionRole,
  type CredentialKind,
  GatewayError,
  type Principal,
} from '@loopgate/protocol';
import type { NodeIdentity, NodeProof } from '../nodes/index.js';
import type { GatewayCredential } from './credentials.js';
import { type OperatorAccess, resolveOperatorAccess } from './operator-access.js';
import type { OperatorTokens } from './operator-tokens.js';
import type { AttemptSource, FailedAttemptLimiter } from './rate-limiter.js';
import type { TailscaleWhois } from './tailscale-whois.js';

/** Who one socket turned out to be: what `ConnectionInfo` records of its credential. */
export type PeerIdentity = {
  role: ConnectionRole;
  principal: Principal;
  credential: CredentialKind;
  credentialName: string | undefined;
  expiresAt: number | undefined;
  /** Set for role `node`. */
  nodeId: string | undefined;
  /** Set for role `pairing`: the key it proved. */
  nodeKey: string | undefined;
  clientName: string | undefined;
  clientVersion: string | undefined;
};

/** One socket's attempt: its connection params and what admission learned of it. */
export type AuthAttempt = {
  params: Record<string, string> | null;
  attemptSource: AttemptSource;
  /** Tailscale Serve's identity headers, a claim until the local daemon confirms it. */
  tailscaleIdentity?: { login: string; clientAddress: string } | undefined;
  /** The challenge this socket's upgrade response carried, for a node's signature. */
  challenge: string | undefined;
};

export type ConnectionAuthOptions = {
  allowTailscale: boolean;
  limiter: FailedAttemptLimiter;
  /** The gateway's own token or password; undefined until `start()` resolved it. */
  gatewayCredential(): GatewayCredential | undefined;
  operatorTokens: Pick<OperatorTokens, 'check'>;
  /** Checks a node's signature over the challenge (the node registry knows its keys). */
  verifyNode(proof: NodeProof): NodeIdentity;
  tailscale: Pick<TailscaleWhois, 'verify'>;
  log: { warn(fields: object, message: string): void };
  now?: () => number;
};

const NODE_PROOF_MISSING =
  "a node must sign this connection's challenge: pass nodeKey and nodeSignature in connectionParams (node tokens are no longer accepted; update the node)";

/**
 * Who a socket is, from its connection params alone: the gateway token or
 * password (admin), a named operator token (its scope), a confirmed
 * Tailscale identity (admin), or a node's signature over its challenge.
 * No sockets here: the transport hands in what it read, and gets an
 * identity or a typed refusal back.
 *
 * Answers synchronously whenever it can, so the identity takes effect
 * before the next frame is read; only a Tailscale claim waits (on `whois`).
 */
export class ConnectionAuthenticator {
  readonly #opts: ConnectionAuthOptions;
  readonly #now: () => number;

  constructor(options: ConnectionAuthOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
  }

  authenticate(attempt: AuthAttempt): PeerIdentity | Promise<PeerIdentity> {
    const parsed = ConnectionParams.safeParse(attempt.params ?? {});
    if (!parsed.success) throw new GatewayError('UNAUTHORIZED', 'malformed connection params');
    const params = parsed.data;
    const client = { clientName: params.clientName, clientVersion: params.clientVersion };
    if (params.role === 'node' || params.role === 'pairing') {
      const identity = this.#checkNodeProof(params, attempt);
      return identity.role === 'node'
        ? { ...noOperator('node', 'node'), nodeId: identity.nodeId, ...client }
        : { ...noOperator('pairing', 'pairing'), nodeKey: identity.nodeKey, ...client };
    }
    const claim = this.#opts.allowTailscale ? attempt.tailscaleIdentity : undefined;
    if (claim) {
      // Unconfirmed headers are dropped, so the request has no credential from them.
      return this.#confirmTailscale(claim, attempt.attemptSource).then((login) =>
        operatorIdentity(
          login !== undefined
            ? {
                principal: 'operator.admin',
                credential: 'tailscale',
                name: login,
                expiresAt: undefined,
              }
            : this.checkOperator(params, attempt.attemptSource),
          client,
        ),
      );
    }
    return operatorIdentity(this.checkOperator(params, attempt.attemptSource), client);
  }

  /**
   * Every credential check (operator secret or node signature) goes through
   * the failed-attempt limiter: a locked-out address is refused before its
   * secret is even looked at, and each failure — `verify` returning nothing,
   * or throwing a typed refusal — counts toward the lockout.
   */
  checkCredential<T>(
    source: AttemptSource,
    verify: () => T | undefined,
    failure: string | (() => string),
  ): T {
    const now = this.#now();
    this.#refuseLockedOut(source, now);
    const limiter = this.#opts.limiter;
    let refusal: GatewayError | undefined;
    try {
      const verified = verify();
      if (verified !== undefined) return verified;
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      refusal = error;
    }
    const after = limiter.recordFailure(source, now);
    throw new GatewayError(
      refusal?.code ?? 'UNAUTHORIZED',
      refusal?.message ?? (typeof failure === 'string' ? failure : failure()),
      after.allowed ? undefined : { details: { retryAfterMs: after.retryAfterMs } },
    );
  }

  #refuseLockedOut(source: AttemptSource, now: number): void {
    const gate = this.#opts.limiter.check(source, now);
    if (!gate.allowed) {
      throw new GatewayError(
        'RATE_LIMITED',
        'too many failed authentication attempts from this address',
        { details: { retryAfterMs: gate.retryAfterMs } },
      );
    }
  }

  /**
   * A node socket proves its key over the challenge its upgrade response
   * carried. A missing proof (a node presenting a token) is a failed
   * attempt like a wrong one.
   */
  #checkNodeProof(params: ConnectionParams, attempt: AuthAttempt): NodeIdentity {
    return this.checkCredential(
      attempt.attemptSource,
      () => {
        const { nodeKey, nodeSignature } = params;
        const { challenge } = attempt;
        if (nodeKey === undefined || nodeSignature === undefined || challenge === undefined) {
          throw new GatewayError('UNAUTHORIZED', NODE_PROOF_MISSING);
        }
        return this.#opts.verifyNode({
          challenge,
          publicKey: nodeKey,
          signature: nodeSignature,
          nodeId: params.nodeId,
        });
      },
      'node authentication failed',
    );
  }

  /** The gateway's own secret (admin) or a named operator token (its scope), through the limiter. */
  checkOperator(params: ConnectionParams, source: AttemptSource): OperatorAccess {
    const gatewayCredential = this.#opts.gatewayCredential();
    if (!gatewayCredential) throw new GatewayError('UNAVAILABLE', 'gateway is not ready');
    let failure = 'invalid token';
    return this.checkCredential(
      source,
      () => {
        const result = resolveOperatorAccess(
          params,
          gatewayCredential,
          this.#opts.operatorTokens,
          this.#now(),
        );
        if (result.ok) return result.access;
        failure = result.failure;
        return undefined;
      },
      () => failure,
    );
  }

  /**
   * A Tailscale Serve identity is only a claim until the local daemon confirms
   * it (`tailscale whois`); resolves with the confirmed login, or undefined
   * when it is not confirmed and the request must authenticate like any other.
   */
  async #confirmTailscale(
    claim: { login: string; clientAddress: string },
    source: AttemptSource,
  ): Promise<string | undefined> {
    this.#refuseLockedOut(source, this.#now());
    const verdict = await this.#opts.tailscale.verify(claim.login, claim.clientAddress);
    if (verdict.ok) return verdict.login;
    this.#opts.log.warn(
      { reason: verdict.reason },
      'tailscale identity headers not confirmed; ignored',
    );
    return undefined;
  }
}

function noOperator(role: 'node' | 'pairing', principal: Principal) {
  return {
    role,
    principal,
    credential: 'node-key' as const,
    credentialName: undefined,
    expiresAt: undefined,
    nodeId: undefined,
    nodeKey: undefined,
  };
}

function operatorIdentity(
  access: OperatorAccess,
  client: { clientName: string | undefined; clientVersion: string | undefined },
): PeerIdentity {
  return {
    role: 'operator',
    principal: access.principal,
    credential: access.credential,
    credentialName: access.name,
    expiresAt: access.expiresAt,
    nodeId: undefined,
    nodeKey: undefined,
    ...client,
  };
}
