import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloseCode, type GatewayEventInput } from '@loopgate/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeRegistry } from '../../src/nodes/node-registry.js';
import { NodePresence, type NodeSocket } from '../../src/nodes/presence.js';
import { QueuedNodeConnection } from '../../src/nodes/queued-connection.js';

let dir: string;
let events: GatewayEventInput[];
let registry: NodeRegistry;
let presence: NodePresence;
let streamsGone: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-presence-'));
  events = [];
  streamsGone = [];
  const log = pino({ level: 'silent' });
  registry = new NodeRegistry({ path: join(dir, 'nodes.json'), log });
  await registry.load();
  await registry.add({
    nodeId: 'nd_1',
    name: 'box',
    platform: 'linux',
    approvedCommands: ['*'],
    declaredCommands: ['system.info'],
    publicKey: null,
    pairedAt: 1,
    lastSeenAt: null,
  });
  presence = new NodePresence({
    registry,
    events: { emit: (e) => events.push(e) },
    log,
    onStreamGone: (id) => streamsGone.push(id),
    onSocketClosed: (s) => presence.socketClosed(s.id, s.nodeId),
  });
});
afterEach(async () => {
  await registry.flush();
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
function socket(): NodeSocket & { closes: number[] } {
  const controller = new AbortController();
  const closes: number[] = [];
  return {
    id: `c${++seq}`,
    role: 'node',
    nodeId: 'nd_1',
    remoteAddress: '192.0.2.9',
    isLoopback: false,
    closed: controller.signal,
    closes,
    close(code) {
      closes.push(code);
      controller.abort();
    },
  };
}

function stream(conn: NodeSocket): QueuedNodeConnection {
  return new QueuedNodeConnection({ connectionId: conn.id, nodeId: 'nd_1', close: conn.close });
}

describe('NodePresence', () => {
  it('goes online on attach and offline when the socket closes, even if nobody tells it', () => {
    const conn = socket();
    presence.track(conn, 'nd_1');
    presence.attach(registry.get('nd_1')!, stream(conn), conn.remoteAddress);
    expect(presence.onlineCount).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['node.online']);
    conn.close(1006, 'gone');
    expect(presence.onlineCount).toBe(0);
    expect(streamsGone).toEqual([conn.id]);
    expect(events.at(-1)).toMatchObject({ type: 'node.offline', nodeId: 'nd_1' });
    expect(registry.get('nd_1')?.lastSeenAt).not.toBeNull();
  });

  it('closes the older connection when the same node attaches again', () => {
    const first = socket();
    const second = socket();
    presence.attach(registry.get('nd_1')!, stream(first), first.remoteAddress);
    presence.attach(registry.get('nd_1')!, stream(second), second.remoteAddress);
    expect(first.closes).toEqual([CloseCode.forbidden]);
    expect(presence.live('nd_1')?.connection.connectionId).toBe(second.id);
  });

  it('closes every socket of a node on disconnect and says how many', () => {
    const a = socket();
    const b = socket();
    presence.track(a, 'nd_1');
    presence.track(b, 'nd_1');
    presence.attach(registry.get('nd_1')!, stream(a), a.remoteAddress);
    expect(presence.disconnect('nd_1', CloseCode.revoked, 'removed')).toBe(2);
    expect(a.closes).toEqual([CloseCode.revoked]);
    expect(b.closes).toEqual([CloseCode.revoked]);
    expect(presence.onlineCount).toBe(0);
  });

  it('closes a socket that speaks for a node no longer paired', () => {
    const conn = socket();
    presence.track(conn, 'nd_gone');
    expect(conn.closes).toEqual([CloseCode.revoked]);
  });
});
