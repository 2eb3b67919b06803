import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import type { RealPart } from './real-parts.js';

const run = promisify(execFile);

export type LanAddress = {
  /** An IPv4 address of this machine that is not loopback, as another host on the LAN would dial it. */
  address: string;
  /** How it was obtained, for the test log. */
  origin: string;
  /** Deletes the interface the test created (nothing when it borrowed an existing one). */
  remove(): Promise<void>;
};

/**
 * A non-loopback address to bind and dial, so exposure tests check what
 * another host would see instead of quietly testing 127.0.0.1. As root an
 * interface of the test's own is made with `ip` (iproute2): a `dummy` where
 * the kernel has the module, else a `veth` pair; the address is from
 * 198.18.0.0/15, the block reserved for such tests. Without root, an existing
 * non-loopback address is borrowed. `availability` says why neither worked.
 */
export async function obtainLanAddress(): Promise<LanAddress & { availability: RealPart }> {
  const own = await createInterface();
  if ('address' in own) return { ...own, availability: { available: true } };
  const existing = existingNonLoopback();
  if (existing) {
    return {
      address: existing,
      origin: `an existing interface (${own.reason})`,
      remove: async () => {},
      availability: { available: true },
    };
  }
  return {
    address: '',
    origin: 'none',
    remove: async () => {},
    availability: {
      available: false,
      reason: `no non-loopback IPv4 address, and none could be made: ${own.reason}`,
    },
  };
}

function existingNonLoopback(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? [])
      if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

async function createInterface(): Promise<LanAddress | { reason: string }> {
  if (process.getuid?.() !== 0) return { reason: 'making an interface needs root' };
  // Interface names are at most 15 bytes; the pid keeps parallel runs apart.
  const name = `lgt${process.pid.toString(36)}`;
  const address = `198.18.${(process.pid >> 8) & 0xff}.${(process.pid & 0xfe) + 1}`;
  const kinds: { kind: string; args: string[] }[] = [
    { kind: 'dummy', args: ['link', 'add', name, 'type', 'dummy'] },
    { kind: 'veth', args: ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`] },
  ];
  const failures: string[] = [];
  for (const { kind, args } of kinds) {
    try {
      await run('ip', args);
    } catch (error) {
      failures.push(`ip ${args.join(' ')}: ${firstLine(error)}`);
      continue;
    }
    const remove = async () => {
      await run('ip', ['link', 'del', name]);
    };
    try {
      await run('ip', ['addr', 'add', `${address}/32`, 'dev', name]);
      await run('ip', ['link', 'set', name, 'up']);
      if (kind === 'veth') await run('ip', ['link', 'set', `${name}p`, 'up']);
    } catch (error) {
      await remove();
      return { reason: `configuring ${kind} interface ${name}: ${firstLine(error)}` };
    }
    return { address, origin: `a ${kind} interface ${name} made for the test`, remove };
  }
  return { reason: failures.join('; ') };
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(error)).split('\n')[0] as string;
}
