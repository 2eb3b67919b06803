// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import type { ReactNode } from 'react';
import type { LinkStatus } from '../../gateway-port.js';
import type { Level } from '../../state/index.js';
import { PaneFrame, type PaneProps, Row } from '../../ui/pane-frame.js';
import { Text } from '../../ui/screen-text.js';
import { formatDuration, formatMs, sparkline, wrapLines } from '../../ui/text.js';
import { LEVEL_COLOR, LEVEL_MARK } from '../../ui/theme.js';

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** What the operator should know and try while there is no open link. */
export function waitingLines(
  link: LinkStatus,
  target: string,
  since: number,
  now: number,
  /** The Connection pane's tab as it reads (`5 Connection`), wherever the registry puts it. */
  connectionTab: string,
): { text: string; level: Level }[] {
  const waited = formatDuration(now - since);
  switch (link.state) {
    case 'open':
      return [];
    case 'connecting':
      return [
        { text: `Connecting to ${target} (${waited})…`, level: 'warn' },
        { text: 'Waiting for the gateway to accept the connection.', level: 'info' },
      ];
    case 'reconnecting':
      return [
        {
          text: `Not connected — reconnecting, attempt ${link.attempt} (waiting ${waited})`,
          level: 'warn',
        },
        ...(link.reason ? [{ text: `last error: ${link.reason}`, level: 'info' as const }] : []),
        {
          text: 'Try: is the gateway running? (loopgate gateway run) · check --url / --ssh',
          level: 'info',
        },
      ];
    case 'unauthorized':
      return [
        {
          text: 'The gateway refused the credentials (unauthorized); not retrying.',
          level: 'error',
        },
        { text: link.reason, level: 'info' },
        {
          text: `Try: set the token in ${connectionTab} and press c, or --token, LOOPGATE_GATEWAY_TOKEN`,
          level: 'info',
        },
      ];
    case 'pin-mismatch':
      return [
        {
          text: 'The server certificate does not match the pinned fingerprint; not connecting.',
          level: 'error',
        },
        {
          text: `See ${connectionTab} for expected vs presented, and verify before re-pinning.`,
          level: 'info',
        },
      ];
    case 'closed':
      return [
        { text: `Connection closed${link.reason ? `: ${link.reason}` : ''}.`, level: 'error' },
        {
          text: `Try: :connect <url>, or edit the target in ${connectionTab} and press c`,
          level: 'info',
        },
      ];
  }
}

/**
 * Node counts from the lists the Nodes pane shows, kept live by presence
 * events, so both panes always agree; the status snapshot (taken when the
 * link opened) only when this gateway cannot list nodes.
 */
function nodeCounts(state: PaneProps['state']): {
  online: number;
  paired: number;
  pending: number;
} {
  const { list, pending } = state.nodes;
  if (state.features.nodes === 'available') {
    return {
      online: list.filter((n) => n.state === 'online').length,
      paired: list.length,
      pending:
        state.features.pairing === 'available'
          ? pending.length
          : (state.gateway.status?.nodes.pending ?? 0),
    };
  }
  return state.gateway.status?.nodes ?? { online: 0, paired: 0, pending: 0 };
}

export function OverviewPane({ state, width, height, now, tabLabel }: PaneProps): ReactNode {
  const { health, status } = state.gateway;
  const { link, target, linkSince, rttHistory, rttMs } = state.connection;
  const label = 12;
  const rows: ReactNode[] = [];
  const key = (name: string) => <Text bold>{name.padEnd(label)}</Text>;

  // what to wait for and what to try matters more than any figure below: wrapped, not cut
  for (const [i, line] of waitingLines(
    link,
    target,
    linkSince,
    now,
    tabLabel('connection'),
  ).entries()) {
    for (const [j, part] of wrapLines(line.text, width).slice(0, 3).entries()) {
      rows.push(
        <Row key={`wait${i}.${j}`} width={width}>
          <Text color={LEVEL_COLOR[line.level]}>{part}</Text>
        </Row>,
      );
    }
  }
  const stale = link.state !== 'open' && (health || status) ? ' (last known)' : '';

  if (health) {
    const level: Level = health.ok ? 'ok' : 'warn';
    rows.push(
      <Row key="health" width={width}>
        {key('Health')}
        <Text color={LEVEL_COLOR[level]}>
          {LEVEL_MARK[level]} {health.ok ? 'ok' : 'degraded'}
        </Text>
        <Text>
          {stale}
          {'  '}v{health.version} · up {formatDuration(health.uptimeMs)} · loop p99{' '}
          {formatMs(health.eventLoopDelayMs)} · check {formatMs(health.checkDurationMs)}
        </Text>
      </Row>,
    );
  } else {
    rows.push(
      <Row key="health" width={width}>
        {key('Health')}
        <Text dimColor>no answer yet</Text>
      </Row>,
    );
  }

  const sparkWidth = Math.max(8, Math.min(60, width - label - 30));
  const min = rttHistory.length ? Math.min(...rttHistory) : undefined;
  const max = rttHistory.length ? Math.max(...rttHistory) : undefined;
  rows.push(
    <Row key="latency" width={width}>
      {key('Latency')}
      <Text>{formatMs(rttMs).padEnd(8)}</Text>
      <Text color="cyan">{sparkline(rttHistory, sparkWidth)}</Text>
      {min !== undefined ? (
        <Text dimColor>
          {'  '}min {formatMs(min)} max {formatMs(max)}
        </Text>
      ) : null}
    </Row>,
  );

  const conns = health?.connections ?? status?.connections;
  rows.push(
    <Row key="conns" width={width}>
      {key('Connections')}
      <Text>
        {conns
          ? `${count(conns.operators, 'operator')} · ${count(conns.nodes, 'node')} · ${conns.total} total`
          : '–'}
      </Text>
    </Row>,
  );

  rows.push(...statusRows(state, width, key));
  return <PaneFrame height={height}>{rows.slice(0, height)}</PaneFrame>;
}

/** What `status` says (nodes, sessions, bind, channels, deep probe), or why there is none. */
function statusRows(
  state: PaneProps['state'],
  width: number,
  key: (name: string) => ReactNode,
): ReactNode[] {
  const { status, statusError } = state.gateway;
  const rows: ReactNode[] = [];
  if (status) {
    const nodes = nodeCounts(state);
    rows.push(
      <Row key="nodes" width={width}>
        {key('Nodes')}
        <Text>
          {nodes.online} online · {nodes.paired} paired ·{' '}
        </Text>
        <Text color={nodes.pending > 0 ? 'yellow' : undefined}>{nodes.pending} pending</Text>
      </Row>,
      <Row key="sessions" width={width}>
        {key('Sessions')}
        <Text>
          {status.sessions.total} total · {status.sessions.activeRuns} active runs
        </Text>
      </Row>,
      <Row key="bind" width={width}>
        {key('Gateway')}
        <Text>
          {status.bind.mode} {status.bind.addresses.join(', ')}:{status.bind.port} · auth{' '}
          {status.auth.mode} ({status.auth.source}) · tls {status.tls.enabled ? 'on' : 'off'} · pid{' '}
          {status.pid}
        </Text>
      </Row>,
      <Row key="channels-title" width={width}>
        {key('Channels')}
        <Text dimColor>{status.channels.length === 0 ? 'none configured' : ''}</Text>
      </Row>,
    );
    for (const channel of status.channels) {
      const level: Level =
        channel.state === 'running'
          ? 'ok'
          : channel.state === 'error'
            ? 'error'
            : channel.state === 'disabled'
              ? 'info'
              : 'warn';
      const probe = channel.probe
        ? channel.probe.ok
          ? ` · probe ok ${formatMs(channel.probe.latencyMs)}`
          : ` · probe failed: ${channel.probe.error ?? ''}`
        : '';
      rows.push(
        <Row key={`ch-${channel.name}`} width={width}>
          <Text>{'  '}</Text>
          <Text color={LEVEL_COLOR[level]}>
            {LEVEL_MARK[level]} {channel.name.padEnd(10)} {channel.state}
          </Text>
          <Text>
            {channel.detail ? `: ${channel.detail}` : ''}
            {probe}
          </Text>
        </Row>,
      );
    }
    if (status.deep) {
      for (const node of status.deep.nodes) {
        const level: Level = node.ok ? 'ok' : 'error';
        rows.push(
          <Row key={`deep-${node.nodeId}`} width={width}>
            <Text>{'  '}</Text>
            <Text color={LEVEL_COLOR[level]}>
              {LEVEL_MARK[level]} node {node.name}
            </Text>
            <Text>{node.ok ? ` ${formatMs(node.latencyMs)}` : `: ${node.error ?? 'failed'}`}</Text>
          </Row>,
        );
      }
    }
  } else if (state.features.status === 'unavailable') {
    rows.push(
      <Row key="nostatus" width={width}>
        <Text dimColor>Status is not available on this gateway.</Text>
      </Row>,
    );
  } else if (statusError) {
    rows.push(
      <Row key="statuserr" width={width}>
        <Text color="red">
          ✗ status: {statusError.code}: {statusError.message}
        </Text>
      </Row>,
    );
  }
  return rows;
}
