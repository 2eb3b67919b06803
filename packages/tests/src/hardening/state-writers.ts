/**
 * Every kind of file the gateway (and the dashboard's config editor) writes,
 * each written through its real module, plus a check for each that says
 * whether what is on disk is still usable. The crash-consistency test runs
 * all writers at once in a child process and SIGKILLs it at random points;
 * the checks run in the test process afterwards.
 *
 * These modules are internal to their packages (not part of a package's
 * public door), so they are imported by path.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LoopgateConfig } from '@loopgate/protocol';
import {
  readConnectionSettings,
  saveConnectionSettings,
} from '../../../../apps/dashboard/src/config-file/index.js';
import { resolveCredential, rotateGeneratedToken } from '../../../gateway/src/auth/credentials.js';
import { TelegramOffsetFile } from '../../../gateway/src/channels/telegram/update-offset.js';
import { EventBus } from '../../../gateway/src/events/index.js';
import { createLogger } from '../../../gateway/src/log/index.js';
import { NodeStateFile } from '../../../gateway/src/nodes/node-store.js';
import { SessionStore } from '../../../gateway/src/sessions/session-store.js';
import { parseTranscript } from '../../../gateway/src/sessions/transcript-file.js';
import { writeJsonAtomic } from '../../../gateway/src/store/index.js';
import { ensureGatewayCertificate } from '../../../gateway/src/tls/index.js';
import { loadNodeState, nodeStatePath, saveNodeState } from '../../../node/src/node-state-file.js';

const quiet = createLogger({ level: 'silent' });
const BOT_ID = 4242;

export type StateFileKind =
  | 'token'
  | 'json-state'
  | 'events-log'
  | 'pairing-state'
  | 'node-credentials'
  | 'transcript'
  | 'telegram-offset'
  | 'config-edit'
  | 'tls-certificate';

export const STATE_FILE_KINDS: readonly StateFileKind[] = [
  'token',
  'json-state',
  'events-log',
  'pairing-state',
  'node-credentials',
  'transcript',
  'telegram-offset',
  'config-edit',
  'tls-certificate',
];

/** One kind of state file, written through its real module: `write(n)` saves version n. */
export type StateWriter = { write(n: number): Promise<void> };

export async function openStateWriter(kind: StateFileKind, dir: string): Promise<StateWriter> {
  switch (kind) {
    case 'token':
      return { write: async () => void (await rotateGeneratedToken(dir)) };
    case 'json-state':
      // Growing payloads, so a kill lands mid-write of files of many sizes (up to ~512 KiB).
      return {
        write: (n) =>
          writeJsonAtomic(join(dir, 'state.json'), {
            n,
            payload: 'x'.repeat(jsonPayloadLength(n)),
          }),
      };
    case 'events-log': {
      // A small ring makes the log compact (an atomic rewrite) often, between appends.
      const bus = new EventBus({ replayBufferSize: 32, logPath: join(dir, 'events.jsonl') });
      await bus.open();
      return {
        write: async (n) => {
          bus.emit({
            type: 'connection.opened',
            connectionId: `c${n}`,
            role: 'operator',
            remoteAddress: '127.0.0.1',
            clientName: 'x'.repeat(n % 120),
          });
          if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
        },
      };
    }
    case 'pairing-state': {
      const file = new NodeStateFile(join(dir, 'nodes.json'));
      const nodes = await file.load();
      return {
        write: (n) => {
          nodes.push({
            nodeId: `node-${n}-${nodes.length}`,
            name: `node ${n}`,
            platform: 'linux',
            approvedCommands: ['system.run'],
            declaredCommands: ['system.run', 'system.which'],
            publicKey: 'A'.repeat(43),
            pairedAt: n,
            lastSeenAt: null,
          });
          if (nodes.length > 400) nodes.shift();
          return file.save(nodes);
        },
      };
    }
    case 'node-credentials': {
      // The node's side of pairing: its id and gateway, rewritten as a node re-pairs.
      const path = nodeStatePath(dir, 'crash-node');
      return {
        write: (n) =>
          saveNodeState(path, {
            version: 2,
            name: 'crash-node',
            nodeId: `node-${n}`,
            gatewayUrl: `ws://127.0.0.1:18789/${n}`,
          }),
      };
    }
    case 'transcript': {
      const store = new SessionStore({
        stateDir: dir,
        events: { emit: () => undefined },
        log: quiet,
      });
      await store.open();
      const session = store.list().sessions[0] ?? (await store.create({ channel: 'cli' }));
      return {
        // Appends as a turn happens, fsync at the end of the turn, like the agent runtime.
        write: async (n) => {
          const text = `message ${n} ${'y'.repeat((n * 2053) % 8192)}`;
          await store.append(
            session.id,
            [{ kind: 'user', runId: `run-${n}`, text, source: { channel: 'cli' }, ts: Date.now() }],
            {
              sync: n % 4 === 3,
            },
          );
        },
      };
    }
    case 'telegram-offset': {
      const file = new TelegramOffsetFile(join(dir, 'telegram-offset.json'));
      return { write: (n) => file.save(BOT_ID, n) };
    }
    case 'config-edit': {
      const path = join(dir, 'config.json5');
      return {
        write: async (n) => {
          await saveConnectionSettings(path, {
            mode: n % 2 === 0 ? 'remote' : 'local',
            url: `wss://gateway-${n}.example:18789`,
            ssh: undefined,
            tlsFingerprint: n % 3 === 0 ? [] : [`sha256/${'A'.repeat(43)}=`],
          });
        },
      };
    }
    case 'tls-certificate':
      // The first-start generation, over and over: key written first, then the certificate.
      return {
        write: async () => {
          await rm(join(dir, 'tls'), { recursive: true, force: true });
          await ensureGatewayCertificate({ stateDir: dir, hosts: ['127.0.0.1'] });
        },
      };
  }
}

function jsonPayloadLength(n: number): number {
  return (n * 7919) % (512 * 1024);
}

/** Writes version after version until the process is killed; `onFirstWrite` once something is on disk. */
export async function runWriter(
  kind: StateFileKind,
  dir: string,
  onFirstWrite: () => void,
): Promise<never> {
  const writer = await openStateWriter(kind, dir);
  await writer.write(1);
  onFirstWrite();
  for (let n = 2; ; n++) await writer.write(n);
}

/** Reads what a writer left behind the way the gateway would on its next start; throws if it is unusable. */
export async function checkStateFile(kind: StateFileKind, dir: string): Promise<string> {
  switch (kind) {
    case 'token': {
      const text = await readFile(join(dir, 'gateway-token'), 'utf8');
      if (!/^[A-Za-z0-9_-]{43}\n$/.test(text))
        throw new Error(`gateway-token is torn: ${JSON.stringify(text)}`);
      const credential = await resolveCredential(LoopgateConfig.parse({}), dir);
      return `token ok (${credential.source})`;
    }
    case 'json-state': {
      const parsed = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
        n: number;
        payload: string;
      };
      if (parsed.payload.length !== jsonPayloadLength(parsed.n))
        throw new Error('state.json parses but its payload is short');
      return `state.json #${parsed.n}`;
    }
    case 'events-log': {
      const path = join(dir, 'events.jsonl');
      const text = await readFile(path, 'utf8');
      const lines = text.split('\n');
      const tail = lines.pop();
      let last = 0;
      for (const line of lines) {
        const entry = JSON.parse(line) as { seq: number };
        if (entry.seq <= last) throw new Error(`events.jsonl goes backwards at seq ${entry.seq}`);
        last = entry.seq;
      }
      // Only an append cut short may be unterminated; the bus skips it when it opens.
      const bus = new EventBus({ replayBufferSize: 32, logPath: path });
      await bus.open();
      await bus.close();
      if (bus.lastEventId !== (last === 0 ? null : String(last)))
        throw new Error(`events.jsonl reopened at ${bus.lastEventId}, expected ${last}`);
      return `events.jsonl up to ${last}${tail ? ' (+ torn append)' : ''}`;
    }
    case 'pairing-state': {
      const nodes = await new NodeStateFile(join(dir, 'nodes.json')).load();
      return `nodes.json with ${nodes.length} nodes`;
    }
    case 'node-credentials': {
      const state = await loadNodeState(nodeStatePath(dir, 'crash-node'), 'crash-node');
      if (!state.nodeId || state.gatewayUrl !== `ws://127.0.0.1:18789/${state.nodeId.slice(5)}`) {
        throw new Error(`node state lost its pairing: ${JSON.stringify(state)}`);
      }
      return `node state ${state.nodeId}`;
    }
    case 'transcript': {
      const sessions = join(dir, 'sessions');
      const files = (await readdir(sessions)).filter((f) => f.endsWith('.jsonl'));
      if (files.length !== 1) throw new Error(`expected one transcript, found ${files.length}`);
      const parsed = parseTranscript(await readFile(join(sessions, files[0] as string), 'utf8'));
      if (!parsed.header) throw new Error('transcript lost its header line');
      if (parsed.skippedLines > 0)
        throw new Error(`transcript has ${parsed.skippedLines} unreadable lines in the middle`);
      if (parsed.entries.some((e, i) => i > 0 && e.seq <= (parsed.entries[i - 1]?.seq ?? 0)))
        throw new Error('transcript entries are out of order');
      const store = new SessionStore({
        stateDir: dir,
        events: { emit: () => undefined },
        log: quiet,
      });
      await store.open();
      await store.close();
      if (store.size !== 1)
        throw new Error('the session store does not see the transcript after the crash');
      return `transcript with ${parsed.entries.length} entries${parsed.tornTail ? ' (+ torn append)' : ''}`;
    }
    case 'telegram-offset': {
      const raw = JSON.parse(await readFile(join(dir, 'telegram-offset.json'), 'utf8')) as unknown;
      const offset = await new TelegramOffsetFile(join(dir, 'telegram-offset.json')).load(BOT_ID);
      if (offset === undefined)
        throw new Error(`telegram offset unreadable: ${JSON.stringify(raw)}`);
      return `telegram offset ${offset}`;
    }
    case 'config-edit': {
      const settings = await readConnectionSettings(join(dir, 'config.json5'));
      if (!settings.url.startsWith('wss://gateway-'))
        throw new Error(`config.json5 lost its edit: ${JSON.stringify(settings)}`);
      return `config.json5 → ${settings.url}`;
    }
    case 'tls-certificate': {
      // Either the pair is complete and matches, or the next start regenerates it.
      const certificate = await ensureGatewayCertificate({ stateDir: dir, hosts: ['127.0.0.1'] });
      return `certificate ${certificate.generated ? 'regenerated' : 'intact'}`;
    }
  }
}
