// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import type { ReactNode } from 'react';
import {
  CONNECTION_FIELD_LABELS,
  CONNECTION_FIELDS,
  connectionFieldText,
  type DashboardState,
  describeSecretSetting,
  sameSettings,
} from '../../state/index.js';
import { PaneFrame, type PaneProps, Row } from '../../ui/pane-frame.js';
import { Text } from '../../ui/screen-text.js';
import { fingerprintLines, windowAround } from '../../ui/text.js';
import { LEVEL_COLOR, linkLabel, tunnelLabel } from '../../ui/theme.js';

const LABEL = 15;

/** Shown instead of the settings while the pinned fingerprint does not match: what to compare, what to do. */
function PinMismatch({ state, width, height }: PaneProps): ReactNode {
  const { link, target, transport } = state.connection;
  if (link.state !== 'pin-mismatch') return null;
  const presented = link.presented ?? transport.tls.presented;
  const expected = link.expected.length > 0 ? link.expected : transport.tls.pinned;
  const rows: [string, ReactNode][] = [
    [
      'title',
      <Text key="t" color="red" bold>
        ✗ TLS PIN MISMATCH — the server's certificate is not the pinned one
      </Text>,
    ],
    [
      'target',
      <Text key="g">
        {'target'.padEnd(LABEL)}
        {target}
      </Text>,
    ],
    ...expected.flatMap((fp, i) =>
      fingerprintLines(fp, width - LABEL).map((line, j): [string, ReactNode] => [
        `exp${i}.${j}`,
        <Text key={`e${i}.${j}`}>
          {(i === 0 && j === 0 ? 'expected' : '').padEnd(LABEL)}
          {line}
        </Text>,
      ]),
    ),
    ...fingerprintLines(presented ?? '(unknown)', width - LABEL).map(
      (line, j): [string, ReactNode] => [
        `pres${j}`,
        <Text key={`p${j}`} color="red">
          {(j === 0 ? 'presented' : '').padEnd(LABEL)}
          {line}
        </Text>,
      ],
    ),
    ['blank', <Text key="b"> </Text>],
    [
      'why',
      <Text key="w">
        This is either an impostor or a regenerated certificate. Nothing was sent to it.
      </Text>,
    ],
    ['verify', <Text key="v">Verify on the gateway host: loopgate gateway tls fingerprint</Text>],
    [
      'act',
      <Text key="a">
        {state.readOnly
          ? 'Re-pinning is off in --read-only mode.'
          : 'p pins the presented certificate (asks first) · Esc goes back'}
      </Text>,
    ],
  ];
  return (
    <PaneFrame height={height}>
      {rows.slice(0, height).map(([key, node]) => (
        <Row key={key} width={width}>
          {node}
        </Row>
      ))}
    </PaneFrame>
  );
}

function tlsSummary(state: DashboardState): { text: string; color?: string } {
  const { tls } = state.connection.transport;
  if (!tls.enabled) return { text: 'off: plain ws:// (loopback, tailnet or tunnel only)' };
  const seen = tls.presented ? '' : ' · no certificate seen yet';
  if (tls.pinned.length === 0) {
    return {
      text: `system CAs, not pinned${seen}${tls.presented ? ' · p pins it' : ''}`,
      color: 'yellow',
    };
  }
  const matches = tls.presented !== undefined && tls.pinned.includes(tls.presented);
  return {
    text: `pinned (${tls.pinned.length})${matches ? ' · presented certificate matches ✓' : seen}`,
    ...(matches ? { color: 'green' } : {}),
  };
}

export function ConnectionPane(props: PaneProps): ReactNode {
  const { state, width, height } = props;
  const { connection, readOnly } = state;
  if (connection.link.state === 'pin-mismatch') return <PinMismatch {...props} />;

  const link = linkLabel(connection.link);
  const tunnel = tunnelLabel(connection.transport.tunnel);
  const tunnelDetail = (() => {
    const t = connection.transport.tunnel;
    if (!t) return connection.transport.via === 'tunnel' ? '' : 'none (direct connection)';
    if (t.state === 'up') return t.localPort ? ` on local port ${t.localPort}` : '';
    if (t.state === 'retrying' || t.state === 'failed') return `: ${t.reason}`;
    return '';
  })();
  const dirty = !sameSettings(connection.draft, connection.saved);
  const tls = tlsSummary(state);
  const fields = ['mode', ...CONNECTION_FIELDS] as const;
  const rows: ReactNode[] = [
    <Row key="target" width={width}>
      <Text bold>{'Target'.padEnd(LABEL)}</Text>
      <Text>{connection.target} </Text>
      <Text color={LEVEL_COLOR[link.level]}>{link.text}</Text>
      <Text> via {connection.transport.via}</Text>
    </Row>,
    <Row key="tunnel" width={width}>
      <Text bold>{'Tunnel'.padEnd(LABEL)}</Text>
      <Text color={LEVEL_COLOR[tunnel.level]}>
        {connection.transport.tunnel ? tunnel.text : ''}
      </Text>
      <Text>{tunnelDetail}</Text>
    </Row>,
    <Row key="tls" width={width}>
      <Text bold>{'TLS'.padEnd(LABEL)}</Text>
      <Text color={tls.color}>{tls.text}</Text>
    </Row>,
    ...(connection.transport.tls.presented
      ? fingerprintLines(connection.transport.tls.presented, width - LABEL).map((line, i) => (
          <Row key={`presented${i}`} width={width}>
            <Text>{(i === 0 ? '  presented' : '').padEnd(LABEL)}</Text>
            <Text>{line}</Text>
          </Row>
        ))
      : []),
    <Row key="settings" width={width}>
      <Text bold>{'Settings'.padEnd(LABEL)}</Text>
      {dirty ? (
        <Text color="yellow">unsaved changes ({readOnly ? 'read-only' : 'w saves'}) · </Text>
      ) : null}
      <Text>{connection.configPath}</Text>
    </Row>,
  ];
  // fields scroll when the window is short, keeping the selected one in view
  const room = Math.max(1, height - rows.length);
  const { start, end } = windowAround(fields.length, room, fields.indexOf(connection.field));
  for (const field of fields.slice(start, end)) {
    const selected = field === connection.field;
    const value =
      field === 'mode'
        ? connection.draft.mode
        : field === 'token' || field === 'password'
          ? describeSecretSetting(connection.draft[field])
          : connectionFieldText(connection.draft, field);
    const disabled =
      field !== 'mode' &&
      field.startsWith('ssh.') &&
      field !== 'ssh.target' &&
      !connection.draft.ssh;
    rows.push(
      <Row key={field} width={width}>
        <Text inverse={selected}>
          {selected ? '▸ ' : '  '}
          {CONNECTION_FIELD_LABELS[field].padEnd(LABEL - 2)}
        </Text>
        <Text dimColor={disabled}>{value || (disabled ? '(set the SSH target first)' : '–')}</Text>
      </Row>,
    );
  }
  return <PaneFrame height={height}>{rows.slice(0, height)}</PaneFrame>;
}
