import {
  NodeCommandName,
  type NodeHelloInput,
  NodeName,
  type NodePairRequestInput,
  withoutControlCharacters,
} from '@loopgate/protocol';
import type { ConnectParams } from './frames.js';

const MAX_COMMANDS = 256;

/**
 * What an OpenClaw node's `connect` declares, in Loopgate's terms: its
 * commands (those that are not valid Loopgate command names are left out,
 * and so can never be invoked), platform and version.
 */
export function nodeDeclaration(params: ConnectParams): NodeHelloInput {
  const commands = (params.commands ?? [])
    .filter((c) => NodeCommandName.safeParse(c).success)
    .slice(0, MAX_COMMANDS);
  // OpenClaw clients cannot be told to send printable text: what would steer a terminal is dropped.
  const platform = withoutControlCharacters(params.client.platform).slice(0, 64);
  const version = withoutControlCharacters(params.client.version).slice(0, 64);
  return {
    commands: [...new Set(commands)],
    platform: platform || 'unknown',
    ...(version ? { version } : {}),
  };
}

/** The pairing request an unpaired OpenClaw node files: its display name made a valid node name. */
export function pairingRequest(params: ConnectParams): NodePairRequestInput {
  const declared = nodeDeclaration(params);
  return {
    name: nodeName(params),
    platform: declared.platform ?? 'unknown',
    ...(declared.version ? { version: declared.version } : {}),
    commands: declared.commands,
  };
}

/**
 * `Peter's MacBook` → `Peter-s-MacBook`: letters, digits, `.`, `_`, `-`,
 * starting with a letter or digit, at most 64. A name with nothing usable
 * becomes `openclaw-` and the start of the device id.
 */
export function nodeName(params: ConnectParams): string {
  const shown = params.client.displayName ?? '';
  const cleaned = shown
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 64);
  if (NodeName.safeParse(cleaned).success) return cleaned;
  return `openclaw-${(params.device?.id ?? 'node').slice(0, 12)}`;
}
