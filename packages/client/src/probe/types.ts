import type { CertificateProbe } from '../tls/index.js';

export type ProbeStepName =
  | 'ssh'
  | 'forward'
  | 'resolve'
  | 'tcp'
  | 'tls'
  | 'upgrade'
  | 'version'
  | 'auth'
  | 'health';

export type ProbeVerdict = 'ok' | 'warn' | 'fail' | 'skip';

/**
 * What a failed step means, one name per failure an operator must tell apart.
 * `cannot-connect` diagnoses make the CLI exit 3, the others exit 1.
 */
export type ProbeDiagnosis =
  | 'tunnel-failed'
  | 'dns-failed'
  | 'nothing-listening'
  | 'unreachable'
  | 'plaintext-refused'
  | 'tls-failed'
  | 'tls-untrusted'
  | 'tls-pin-mismatch'
  | 'wedged'
  | 'not-a-gateway'
  | 'upgrade-refused'
  | 'locked-out'
  | 'version-skew'
  | 'credential-refused'
  | 'gateway-error';

export const CANNOT_CONNECT: ReadonlySet<ProbeDiagnosis> = new Set([
  'tunnel-failed',
  'dns-failed',
  'nothing-listening',
  'unreachable',
  'plaintext-refused',
  'tls-failed',
  'tls-untrusted',
  'tls-pin-mismatch',
  'wedged',
  'not-a-gateway',
]);

export type ProbeStep = {
  step: ProbeStepName;
  verdict: ProbeVerdict;
  /** Wall time the step took, in milliseconds. */
  ms: number;
  /** One line: what was seen. Never a credential. */
  detail: string;
  diagnosis?: ProbeDiagnosis;
  /** The exact next thing to run or change, for a failed (or warned) step. */
  fix?: string;
};

export type ProbeReport = {
  url: string;
  via: 'direct' | 'ssh';
  ok: boolean;
  /** The first failure's diagnosis, when any step failed. */
  diagnosis?: ProbeDiagnosis;
  steps: ProbeStep[];
  /** For wss:// targets: what the server presented. */
  certificate?: CertificateProbe;
  gateway?: { version: string; procedures: string };
};

export type ProbeOptions = {
  url: string;
  token?: string | undefined;
  password?: string | undefined;
  /** Where the credential came from, for the auth line (`--token`, `state file`, …); never the value. */
  credentialSource?: string | undefined;
  tlsFingerprint?: string | readonly string[] | undefined;
  insecurePlaintext?: boolean | undefined;
  /** Through a supervised ssh tunnel: `url` is then replaced by its local end. */
  ssh?:
    | {
        target: string;
        port?: number | undefined;
        identityFile?: string | undefined;
        localPort?: number | undefined;
        remotePort?: number | undefined;
        configFile?: string | undefined;
      }
    | undefined;
  /** Per network step (default 5 s): a peer silent this long is "wedged". */
  stepTimeoutMs?: number | undefined;
};
