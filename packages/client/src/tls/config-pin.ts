import { readFile } from 'node:fs/promises';
import { GatewayError, LoopgateConfig, writeJsonAtomic } from '@loopgate/protocol';
import JSON5 from 'json5';
import { parseFingerprint } from './fingerprint.js';

/**
 * Trust on first use, made explicit: after the operator has seen a gateway's
 * fingerprint (`loopgate gateway probe`) and confirmed it, store it as
 * `gateway.remote.tlsFingerprint` so later connections are pinned.
 *
 * The config is JSON5 that people edit by hand; rewriting a file with
 * comments would silently drop them, so such a file is left alone and the
 * operator is told the exact lines to add.
 */
export async function savePinnedFingerprint(options: {
  configPath: string;
  /** The probed URL, stored as `gateway.remote.url` when none is set yet. */
  url: string;
  fingerprint: string;
}): Promise<{ previous: string | string[] | undefined }> {
  const fingerprint = parseFingerprint(options.fingerprint);
  const snippet = `gateway: { remote: { url: ${JSON.stringify(options.url)}, tlsFingerprint: ${JSON.stringify(fingerprint)} } }`;
  let text = '';
  try {
    text = await readFile(options.configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GatewayError(
        'BAD_REQUEST',
        `cannot read the config file (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (hasComments(text)) {
    throw new GatewayError(
      'CONFLICT',
      `the config file has comments that rewriting it would lose; add the pin yourself: ${snippet}`,
    );
  }
  let input: Record<string, unknown>;
  try {
    const parsed: unknown = text.trim() === '' ? {} : JSON5.parse(text);
    if (!isObject(parsed)) throw new Error('not an object');
    input = parsed;
  } catch {
    throw new GatewayError(
      'BAD_REQUEST',
      `the config file is not valid JSON5; fix it, then add: ${snippet}`,
    );
  }
  const gateway = objectAt(input, 'gateway');
  const remote = objectAt(gateway, 'remote');
  const previous = remote.tlsFingerprint as string | string[] | undefined;
  remote.tlsFingerprint = fingerprint;
  remote.url ??= options.url;
  if (!LoopgateConfig.safeParse(input).success) {
    throw new GatewayError(
      'BAD_REQUEST',
      `the config file does not validate; fix it, then add: ${snippet}`,
    );
  }
  // The file may hold credentials: keep it private, and replace it atomically.
  await writeJsonAtomic(options.configPath, input, { mode: 0o600 });
  return { previous };
}

/** True when JSON5 text has a comment outside string literals. */
export function hasComments(text: string): boolean {
  const withoutStrings = text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return /\/\/|\/\*/.test(withoutStrings);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = parent[key];
  if (isObject(existing)) return existing;
  const created: Record<string, unknown> = {};
  parent[key] = created;
  return created;
}
