import type {
  GatewayEvent,
  GatewayEventInput,
  HealthOutput,
  StatusOutput,
} from '@loopgate/protocol';
import type { NodeView, PairRequestView, SessionView } from '../src/gateway-port.js';
import {
  type DashboardAction,
  type DashboardState,
  dashboardReducer,
  initialState,
} from '../src/state/index.js';

export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

export const health: HealthOutput = {
  ok: true,
  version: '0.1.0',
  uptimeMs: 3 * 3600_000 + 12 * 60_000,
  eventLoopDelayMs: 1.2,
  connections: { operators: 2, nodes: 1, total: 3 },
  checkDurationMs: 0.3,
};

export const status: StatusOutput = {
  version: '0.1.0',
  pid: 4242,
  startedAt: NOW - health.uptimeMs,
  bind: { mode: 'loopback', addresses: ['127.0.0.1'], port: 18789, urls: ['ws://127.0.0.1:18789'] },
  auth: { mode: 'token', source: 'generated', allowTailscale: false },
  tls: { enabled: false },
  connections: health.connections,
  nodes: { paired: 2, online: 1, pending: 1 },
  sessions: { total: 1, activeRuns: 0 },
  channels: [
    { name: 'webchat', state: 'running' },
    { name: 'telegram', state: 'error', detail: 'bot token missing' },
  ],
  events: { lastEventId: '12' },
};

export const buildBox: NodeView = {
  nodeId: 'nd_build',
  name: 'build-box',
  state: 'online',
  platform: 'linux',
  version: '0.1.0',
  commands: ['system.info', 'system.notify'],
  lastSeenAt: NOW,
  pairingCode: 'BQXT-7KMA',
};

export const pi: NodeView = {
  nodeId: 'nd_pi',
  name: 'pi-kitchen',
  state: 'offline',
  platform: 'linux',
  version: '0.1.0',
  commands: ['system.info'],
  lastSeenAt: NOW - 5 * 60_000,
  pairingCode: 'P2DE-4RWN',
};

export const laptopRequest: PairRequestView = {
  requestId: 'pr_laptop',
  pairingCode: 'LAPT-QPXZ',
  contested: false,
  name: 'laptop',
  platform: 'darwin',
  commands: ['system.info', 'fs.read'],
  remoteAddress: '127.0.0.1',
  requestedAt: NOW - 12_000,
};

export const session: SessionView = {
  sessionId: 'op_1',
  channel: 'webchat',
  peer: undefined,
  updatedAt: NOW - 60_000,
  lastText: 'hello',
};

export function event(e: GatewayEventInput, ts = NOW): GatewayEvent {
  return { ...e, ts } as GatewayEvent;
}

/** A dashboard that has been running for a while against a live gateway, built with the real reducer. */
export function liveState(options: {
  columns: number;
  rows: number;
  readOnly?: boolean;
}): DashboardState {
  const actions: DashboardAction[] = [
    { type: 'link.changed', link: { state: 'open' }, at: NOW - 60_000 },
    { type: 'health.loaded', health, at: NOW },
    { type: 'status.loaded', status },
    { type: 'rtt.measured', ms: 1.8 },
    { type: 'rtt.measured', ms: 2.4 },
    { type: 'rtt.measured', ms: 1.1 },
    { type: 'nodes.loaded', nodes: [buildBox, pi] },
    { type: 'pairing.loaded', pending: [laptopRequest] },
    { type: 'chat.sessions-loaded', sessions: [session] },
    { type: 'feature.availability', feature: 'nodes', availability: 'available' },
    { type: 'feature.availability', feature: 'pairing', availability: 'available' },
    {
      type: 'events.received',
      batch: [
        {
          id: '10',
          event: event({
            type: 'node.online',
            nodeId: 'nd_build',
            name: 'build-box',
            commands: buildBox.commands,
          }),
        },
        {
          id: '11',
          event: event({
            type: 'node.pair.requested',
            requestId: 'pr_laptop',
            pairingCode: 'LAPT-QPXZ',
            name: 'laptop',
            platform: 'darwin',
            commands: [],
          }),
        },
        {
          id: '12',
          event: event({
            type: 'node.invoke.finished',
            invocationId: 'i1',
            nodeId: 'nd_build',
            command: 'system.info',
            ok: false,
            durationMs: 30_000,
            errorCode: 'TIMEOUT',
          }),
        },
      ],
    },
  ];
  let state = initialState({
    columns: options.columns,
    rows: options.rows,
    readOnly: options.readOnly ?? false,
    target: 'ws://127.0.0.1:18789',
    configPath: '/home/op/.loopgate/config.json5',
    settings: { mode: 'local', url: '', ssh: undefined, tlsFingerprint: [] },
    now: NOW - 60_000,
  });
  for (const action of actions) state = dashboardReducer(state, action);
  return state;
}

export function reduce(state: DashboardState, ...actions: DashboardAction[]): DashboardState {
  return actions.reduce(dashboardReducer, state);
}
