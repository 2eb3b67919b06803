import type { GatewayEvent, HealthOutput, StatusOutput } from '@loopgate/protocol';
import type {
  AccessView,
  AgentRunState,
  AgentRunUpdate,
  ChatEntry,
  LinkStatus,
  NodeView,
  PairRequestView,
  SessionView,
  SshSettings,
  TransportInfo,
} from '../gateway-port.js';
import type { SecretSetting } from '../panes/connection/secret-setting.js';

export type { PaneId } from '../panes/index.js';

import type { PaneId } from '../panes/index.js';

/** Parts of the gateway a pane depends on; each lights up when its procedures answer. */
export type Feature = 'status' | 'nodes' | 'pairing' | 'sessions' | 'agent' | 'send';
export type Availability = 'unknown' | 'available' | 'unavailable';

/** An error as an operator reads it: the typed code, what happened, what to try. */
export type ErrorView = { code: string; message: string; hint?: string | undefined };

export type Level = 'info' | 'ok' | 'warn' | 'error';

export type Notice = { level: Level; text: string };

/**
 * Something the operator asked the gateway (or the dashboard) to do. Intents
 * are plain data so a confirmation can hold one and tests can assert on it;
 * the controller carries them out.
 */
export type OperatorIntent =
  | { kind: 'approve-pairing'; requestId: string; name: string }
  | { kind: 'reject-pairing'; requestId: string; name: string }
  | { kind: 'remove-node'; nodeId: string; name: string }
  | { kind: 'invoke'; nodeId: string; command: string; params: unknown }
  | { kind: 'send'; channel: string; to: string; text: string }
  | { kind: 'chat'; sessionId: string | undefined; text: string }
  | { kind: 'open-session'; sessionId: string }
  | { kind: 'refresh'; deep: boolean }
  | { kind: 'connect'; url: string }
  | { kind: 'use-context'; name: string }
  | { kind: 'apply-connection' }
  | { kind: 'save-connection' }
  | { kind: 'pin-fingerprint'; fingerprint: string }
  | { kind: 'restart-tunnel' }
  | { kind: 'quit' };

/** Intents that change the gateway or the config file: hidden and refused in `--read-only`. */
export const MUTATING_INTENTS: ReadonlySet<OperatorIntent['kind']> = new Set([
  'approve-pairing',
  'reject-pairing',
  'remove-node',
  'invoke',
  'send',
  'chat',
  'save-connection',
  'pin-fingerprint',
]);

/** A one-line text field; which one decides what Enter does with the text. */
export type TextInput =
  | { kind: 'command'; text: string }
  | { kind: 'events-filter'; text: string }
  | { kind: 'events-search'; text: string }
  | { kind: 'nodes-filter'; text: string }
  | { kind: 'invoke-params'; nodeId: string; command: string; text: string }
  | { kind: 'chat-message'; text: string }
  | { kind: 'connection-field'; field: ConnectionField; text: string };

/** What has the keyboard besides the pane itself. */
export type Mode =
  | { kind: 'normal' }
  | { kind: 'help'; filter: string; scroll: number }
  | { kind: 'confirm'; intent: OperatorIntent; question: string }
  | { kind: 'pick-command'; nodeId: string; index: number }
  | { kind: 'input'; input: TextInput };

export type EventLine = {
  /** Local, strictly increasing position (ids from the gateway may repeat for ephemeral events). */
  n: number;
  id: string | undefined;
  ts: number;
  type: GatewayEvent['type'];
  text: string;
  level: Level;
};

export type EventsState = {
  lines: EventLine[];
  capacity: number;
  nextN: number;
  /** Lines pushed out of the bounded buffer since start. */
  dropped: number;
  /** Follow the tail; false once the operator scrolls up. */
  follow: boolean;
  /** The selected line while paused (its `n`). */
  cursor: number | undefined;
  /** Lines that arrived while paused. */
  unseen: number;
  filter: string;
  search: string;
  showTimestamps: boolean;
  lastEventId: string | undefined;
};

export type InvokeView = {
  /** Result lines scrolled past (long results scroll with PgUp/PgDn). */
  scroll: number;
  nodeId: string;
  nodeName: string;
  command: string;
  paramsText: string;
  outcome:
    | { state: 'running'; startedAt: number }
    | { state: 'ok'; resultText: string; durationMs: number }
    | { state: 'failed'; error: ErrorView; durationMs: number };
};

export type NodesState = {
  list: NodeView[];
  pending: PairRequestView[];
  /** `node:<id>` or `pending:<id>`: selection survives list refreshes. */
  selected: string | undefined;
  filter: string;
  invoke: InvokeView | undefined;
  error: ErrorView | undefined;
};

export type LiveRun = {
  runId: string;
  sessionId: string | undefined;
  state: AgentRunState;
  /** Entries of this turn so far: streamed text accumulates into the last assistant entry. */
  entries: ChatEntry[];
  error: string | undefined;
};

export type ChatState = {
  sessions: SessionView[];
  /** The open conversation; undefined means "a new session" (the gateway creates it on send). */
  sessionId: string | undefined;
  history: ChatEntry[];
  run: LiveRun | undefined;
  /** Lines scrolled up from the bottom of the transcript. */
  scrollBack: number;
  error: ErrorView | undefined;
};

export type ConnectionField =
  | 'url'
  | 'ssh.target'
  | 'ssh.port'
  | 'ssh.identityFile'
  | 'ssh.localPort'
  | 'ssh.remotePort'
  | 'tlsFingerprint'
  | 'token'
  | 'password';

export const CONNECTION_FIELDS: readonly ConnectionField[] = [
  'url',
  'ssh.target',
  'ssh.port',
  'ssh.identityFile',
  'ssh.localPort',
  'ssh.remotePort',
  'tlsFingerprint',
  'token',
  'password',
];

/** The editable `gateway.mode` + `gateway.remote.*` settings, as the Connection pane shows them. */
export type ConnectionSettings = {
  mode: 'local' | 'remote';
  url: string;
  ssh: SshSettings | undefined;
  tlsFingerprint: string[];
  /** The remote credentials; undefined leaves what the config file has. */
  token?: SecretSetting | undefined;
  password?: SecretSetting | undefined;
};

export type ConnectionState = {
  target: string;
  /** The named context in use (`--context`, `:ctx`, or the config's currentContext). */
  context: string | undefined;
  link: LinkStatus;
  /** When the link last changed, to say how long we have been waiting. */
  linkSince: number;
  transport: TransportInfo;
  rttMs: number | undefined;
  /** Recent round trips, oldest first, for the sparkline. */
  rttHistory: number[];
  /** The settings being edited, and what the config file holds. */
  draft: ConnectionSettings;
  saved: ConnectionSettings;
  configPath: string;
  field: ConnectionField | 'mode';
};

export type GatewayInfo = {
  health: HealthOutput | undefined;
  /** Local clock time the health was taken, to keep the uptime ticking. */
  healthAt: number | undefined;
  status: StatusOutput | undefined;
  statusError: ErrorView | undefined;
};

export type DashboardState = {
  terminal: { columns: number; rows: number };
  readOnly: boolean;
  /** What this connection may call, as the gateway's `whoami` says; unknown until it answers. */
  access: AccessView | undefined;
  pane: PaneId;
  mode: Mode;
  notice: Notice | undefined;
  features: Record<Feature, Availability>;
  gateway: GatewayInfo;
  connection: ConnectionState;
  nodes: NodesState;
  chat: ChatState;
  events: EventsState;
};

export type ReceivedEvent = { id: string | undefined; event: GatewayEvent };

export type DashboardAction =
  | { type: 'terminal.resized'; columns: number; rows: number }
  | { type: 'pane.selected'; pane: PaneId }
  | { type: 'mode.set'; mode: Mode }
  | { type: 'input.changed'; text: string }
  | { type: 'confirm.requested'; intent: OperatorIntent }
  | { type: 'notice'; notice: Notice | undefined }
  | { type: 'feature.availability'; feature: Feature; availability: Availability }
  | { type: 'access.known'; access: AccessView }
  | { type: 'link.changed'; link: LinkStatus; at: number }
  | { type: 'transport.changed'; transport: TransportInfo }
  | { type: 'target.changed'; target: string; context?: string | undefined }
  | { type: 'rtt.measured'; ms: number }
  | { type: 'health.loaded'; health: HealthOutput; at: number }
  | { type: 'status.loaded'; status: StatusOutput }
  | { type: 'status.failed'; error: ErrorView }
  | { type: 'events.received'; batch: ReceivedEvent[] }
  | { type: 'events.scrolled'; delta: number }
  | { type: 'events.followed' }
  | { type: 'events.top' }
  | { type: 'events.filtered'; filter: string }
  | { type: 'events.searched'; search: string }
  | { type: 'events.search-stepped'; step: 1 | -1 }
  | { type: 'events.timestamps-toggled' }
  | { type: 'nodes.loaded'; nodes: NodeView[] }
  | { type: 'pairing.loaded'; pending: PairRequestView[] }
  | { type: 'nodes.failed'; error: ErrorView }
  | { type: 'nodes.selection-moved'; step: number }
  | { type: 'nodes.filtered'; filter: string }
  | { type: 'invoke.started'; nodeId: string; command: string; paramsText: string; at: number }
  | { type: 'invoke.succeeded'; resultText: string; at: number }
  | { type: 'invoke.failed'; error: ErrorView; at: number }
  | { type: 'invoke.dismissed' }
  | { type: 'invoke.scrolled'; delta: number }
  | { type: 'chat.sessions-loaded'; sessions: SessionView[] }
  | { type: 'chat.session-opened'; sessionId: string | undefined }
  | { type: 'chat.history-loaded'; sessionId: string; history: ChatEntry[] }
  | { type: 'chat.failed'; error: ErrorView }
  | { type: 'chat.sent'; text: string }
  | { type: 'chat.run-started'; runId: string; sessionId: string | undefined }
  | { type: 'chat.run-updated'; runId: string; update: AgentRunUpdate }
  | { type: 'chat.scrolled'; delta: number }
  | { type: 'connection.field-stepped'; step: 1 | -1 }
  | { type: 'connection.field-set'; field: ConnectionField; value: string }
  | { type: 'connection.mode-toggled' }
  | { type: 'connection.saved'; settings: ConnectionSettings }
  | { type: 'connection.loaded'; settings: ConnectionSettings; configPath: string };
