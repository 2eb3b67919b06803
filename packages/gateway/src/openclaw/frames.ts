import * as z from 'zod';

/**
 * OpenClaw's gateway frames, as its protocol docs give them (docs/gateway/
 * protocol/transport.md and handshake.md in the `openclaw` package): JSON
 * text, `{type:"req",id,method,params}` in, `{type:"res",id,ok,payload|error}`
 * and `{type:"event",event,payload,seq}` out. Only what this endpoint reads
 * is checked; unknown keys are ignored, as its own server does.
 */

/** Nesting a frame may have. Its real frames nest a handful of levels; recursion past this is refused before JSON.parse. */
export const MAX_FRAME_DEPTH = 64;

const id = z.string().min(1).max(128);
const shortText = z.string().max(256);

export const RequestFrame = z.object({
  type: z.literal('req'),
  id,
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type RequestFrame = z.infer<typeof RequestFrame>;

/** Ed25519 raw public key / signature as base64url, and its fingerprint (SHA-256 hex of the raw key). */
export const DeviceIdentity = z.object({
  id: z.string().regex(/^[a-f0-9]{64}$/),
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
  signedAt: z.number().int().nonnegative(),
  nonce: z.string().min(1).max(128),
});
export type DeviceIdentity = z.infer<typeof DeviceIdentity>;

export const ConnectParams = z.object({
  minProtocol: z.number().int(),
  maxProtocol: z.number().int(),
  client: z.object({
    id: z.string().min(1).max(64),
    displayName: shortText.optional(),
    version: z.string().max(64),
    platform: z.string().max(64),
    deviceFamily: z.string().max(64).optional(),
    mode: z.string().min(1).max(64),
    instanceId: z.string().max(128).optional(),
  }),
  role: z.enum(['operator', 'node']).default('operator'),
  scopes: z.array(z.string().max(64)).max(32).default([]),
  commands: z.array(z.string().max(128)).max(512).optional(),
  auth: z
    .object({
      token: z.string().max(512).optional(),
      password: z.string().max(512).optional(),
      deviceToken: z.string().max(512).optional(),
      bootstrapToken: z.string().max(512).optional(),
    })
    .optional(),
  device: DeviceIdentity.optional(),
});
export type ConnectParams = z.infer<typeof ConnectParams>;

/** `node.invoke.result`: the node echoes the request id; the outcome as `payload`, `payloadJSON` or `error`. */
export const InvokeResultParams = z.object({
  id,
  nodeId: z.string().max(128),
  ok: z.boolean(),
  payload: z.unknown().optional(),
  payloadJSON: z.string().optional(),
  error: z
    .object({ code: z.string().max(64).optional(), message: z.string().max(4096).optional() })
    .optional(),
});
export type InvokeResultParams = z.infer<typeof InvokeResultParams>;

export const InvokeProgressParams = z.object({
  id,
  nodeId: z.string().max(128).optional(),
});

/** `node.invoke` from an operator: the node by id or name. */
export const NodeInvokeParams = z.object({
  nodeId: z.string().min(1).max(128),
  command: z.string().min(1).max(128),
  params: z.unknown().optional(),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  idempotencyKey: z.string().min(1).max(128).optional(),
});

export const NodeRefParams = z.object({ nodeId: z.string().min(1).max(128) });

/**
 * Whether `text` nests arrays and objects no deeper than `max`, read without
 * building anything (strings and escapes skipped): a frame of a million
 * brackets is refused in one linear pass instead of handed to JSON.parse and
 * then to code that recurses.
 */
export function jsonDepthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}
