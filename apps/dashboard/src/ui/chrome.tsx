// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { formatRetryLine } from '@loopgate/client';
import { Box } from 'ink';
import type { ReactNode } from 'react';
import { footerHints } from '../keys/index.js';
import { MIN_COLUMNS, MIN_ROWS } from '../layout.js';
import { PANE_DEFINITIONS } from '../panes/index.js';
import {
  type DashboardState,
  type Level,
  maskedSecretInput,
  paramsHint,
  type TextInput,
} from '../state/index.js';
import { Text } from './screen-text.js';
import { formatDuration, formatMs, truncate } from './text.js';
import { LEVEL_COLOR, LEVEL_MARK, linkLabel, tunnelLabel } from './theme.js';

/** The frame around the panes: header, tabs, message line, status line, key hints. */

export function Header({ state, now }: { state: DashboardState; now: number }): ReactNode {
  const { health, healthAt, status } = state.gateway;
  const version = health?.version ?? status?.version;
  const uptime =
    health && healthAt !== undefined
      ? formatDuration(health.uptimeMs + (now - healthAt))
      : undefined;
  const parts = [
    ...(state.connection.context ? [`ctx ${state.connection.context}`] : []),
    state.connection.target,
    version ? `v${version}` : 'version ?',
    uptime ? `up ${uptime}` : 'uptime ?',
  ];
  return (
    <Box width={state.terminal.columns}>
      <Text wrap="truncate-end">
        <Text bold>Loopgate</Text>
        <Text> {parts.join(' · ')}</Text>
        {state.readOnly ? <Text color="yellow"> [read-only]</Text> : null}
        {state.access && state.access.principal !== 'operator.admin' ? (
          <Text color="yellow"> [{state.access.principal}]</Text>
        ) : null}
      </Text>
    </Box>
  );
}

export function PaneTabs({ state }: { state: DashboardState }): ReactNode {
  return (
    <Box width={state.terminal.columns}>
      <Text wrap="truncate-end">
        {PANE_DEFINITIONS.map((pane, i) => {
          const active = pane.id === state.pane;
          const label = `${i + 1} ${pane.title}`;
          const badge = pane.badge?.(state);
          return (
            <Text key={pane.id}>
              {active ? (
                <Text inverse bold>
                  [{label}]
                </Text>
              ) : (
                <Text> {label} </Text>
              )}
              {badge ? <Text color="yellow">{badge}</Text> : null}
              <Text> </Text>
            </Text>
          );
        })}
      </Text>
    </Box>
  );
}

function tlsText(state: DashboardState, compact: boolean): string {
  const { link, transport } = state.connection;
  if (link.state === 'pin-mismatch') return 'tls PIN MISMATCH';
  if (!transport.tls.enabled) return 'tls off';
  if (transport.tls.pinned.length === 0) return compact ? 'tls CA' : 'tls system CAs (not pinned)';
  return link.state === 'open' ? 'tls pinned ✓' : 'tls pinned';
}

/**
 * The always-visible line: link state, round trip, target, TLS pin state,
 * tunnel state. When the window is narrow the labels shorten and the target
 * gives up room first, so all five stay on screen.
 */
export function statusSegments(
  state: DashboardState,
  width: number,
): { link: string; level: Level; middle: string; tunnel: string; tunnelLevel: Level } {
  const { link, rttMs, target, transport } = state.connection;
  const label = linkLabel(link);
  const tunnel = tunnelLabel(transport.tunnel);
  if (link.state === 'reconnecting' && link.retryInMs !== undefined) {
    // no silent wait: what is dialled, why it failed, when the next attempt is — as every retrying client says it
    const retry = formatRetryLine({
      target,
      reason: link.reason,
      retryInMs: link.retryInMs,
      attempt: link.attempt,
    });
    const tail = transport.tunnel ? '  tunnel ' : '';
    const room = width - label.text.length - 2 - tail.length - (tail ? tunnel.text.length : 0);
    return {
      link: label.text,
      level: label.level,
      middle: `  ${truncate(retry, Math.max(8, room))}${tail}`,
      tunnel: tail ? tunnel.text : '',
      tunnelLevel: tunnel.level,
    };
  }
  for (const compact of [false, true]) {
    const rtt = compact ? formatMs(rttMs) : `rtt ${formatMs(rttMs)}`;
    const shownTarget = compact ? target.replace(/^wss?:\/\//, '') : target;
    const tls = tlsText(state, compact);
    const tunnelPrefix = compact ? 'tun ' : 'tunnel ';
    const gap = compact ? ' ' : '  ';
    const fixed =
      label.text.length +
      rtt.length +
      tls.length +
      tunnelPrefix.length +
      tunnel.text.length +
      gap.length * 4;
    const room = width - fixed;
    if (room >= shownTarget.length || (compact && room >= 8)) {
      const cut = room >= shownTarget.length ? shownTarget : truncate(shownTarget, room);
      return {
        link: label.text,
        level: label.level,
        middle: `${gap}${rtt}${gap}${cut}${gap}${tls}${gap}${tunnelPrefix}`,
        tunnel: tunnel.text,
        tunnelLevel: tunnel.level,
      };
    }
  }
  return {
    link: label.text,
    level: label.level,
    middle: ` ${formatMs(rttMs)} `,
    tunnel: tunnel.text,
    tunnelLevel: tunnel.level,
  };
}

export function StatusLine({ state }: { state: DashboardState }): ReactNode {
  const segments = statusSegments(state, state.terminal.columns);
  return (
    <Box width={state.terminal.columns}>
      <Text wrap="truncate-end">
        <Text color={LEVEL_COLOR[segments.level]} bold>
          {segments.link}
        </Text>
        <Text>{segments.middle}</Text>
        <Text color={LEVEL_COLOR[segments.tunnelLevel]}>{segments.tunnel}</Text>
      </Text>
    </Box>
  );
}

const PROMPTS: Record<TextInput['kind'], string> = {
  command: ':',
  'events-filter': 'filter /',
  'events-search': 'search ?',
  'nodes-filter': 'filter /',
  'invoke-params': 'params',
  'chat-message': 'message ›',
  'connection-field': 'set',
};

function promptOf(input: TextInput): string {
  if (input.kind === 'invoke-params') return `${input.command} params (JSON) ›`;
  if (input.kind === 'connection-field') return `${input.field} ›`;
  return PROMPTS[input.kind];
}

function isCredentialInput(input: TextInput): boolean {
  return (
    input.kind === 'connection-field' && (input.field === 'token' || input.field === 'password')
  );
}

function placeholderOf(input: TextInput): string {
  if (input.kind === 'invoke-params') return paramsHint(input.command);
  if (isCredentialInput(input))
    return 'file:<path> or env:<NAME> (preferred), or the secret itself (hidden) · empty clears';
  return '';
}

/** The line above the status: a prompt being typed, a question, or the latest notice. */
export function MessageLine({ state }: { state: DashboardState }): ReactNode {
  const width = state.terminal.columns;
  const { mode, notice } = state;
  if (mode.kind === 'input') {
    const prompt = promptOf(mode.input);
    // a problem with what was typed stays beside it until the next key
    const problem = notice
      ? truncate(`  ${LEVEL_MARK[notice.level]} ${notice.text}`, Math.floor(width / 2))
      : '';
    // show the end of a long entry, where the typing happens
    const room = Math.max(1, width - prompt.length - 2 - problem.length);
    const typed = isCredentialInput(mode.input)
      ? maskedSecretInput(mode.input.text)
      : mode.input.text;
    const text = typed.length > room ? `…${typed.slice(-(room - 1))}` : typed;
    // an empty field shows what it takes, and the hint goes away at the first key
    const placeholder = text === '' ? placeholderOf(mode.input) : '';
    return (
      <Box width={width}>
        <Text wrap="truncate-end">
          <Text bold color="cyan">
            {prompt}
          </Text>
          {prompt === ':' ? '' : ' '}
          {text}
          <Text inverse> </Text>
          {placeholder ? <Text dimColor> {truncate(placeholder, room - 2)}</Text> : null}
          {notice ? <Text color={LEVEL_COLOR[notice.level]}>{problem}</Text> : null}
        </Text>
      </Box>
    );
  }
  if (mode.kind === 'confirm') {
    return (
      <Box width={width}>
        <Text wrap="truncate-end" color="yellow" bold>
          ? {mode.question} (y/n)
        </Text>
      </Box>
    );
  }
  if (notice) {
    return (
      <Box width={width}>
        <Text wrap="truncate-end" color={LEVEL_COLOR[notice.level]}>
          {LEVEL_MARK[notice.level]} {notice.text}
        </Text>
      </Box>
    );
  }
  return (
    <Box width={width}>
      <Text> </Text>
    </Box>
  );
}

/**
 * Keys that work here, from the binding table. Keys that cannot act now are
 * in parentheses (press one to hear why); `? help` always stays visible.
 */
export function Footer({ state }: { state: DashboardState }): ReactNode {
  const width = state.terminal.columns;
  const hints = footerHints(state).map((h) => ({
    text: [...h.keys, h.label].join(' '),
    disabled: h.disabledReason !== undefined,
  }));
  const help = hints.find((h) => h.text === '? help');
  const others = hints.filter((h) => h !== help);
  const shown: typeof hints = [];
  let used = help ? help.text.length : 0;
  for (const hint of others) {
    const cost = hint.text.length + (hint.disabled ? 2 : 0) + 2;
    if (used + cost > width) continue;
    shown.push(hint);
    used += cost;
  }
  if (help) shown.push(help);
  return (
    <Box width={width}>
      <Text wrap="truncate-end">
        {shown.map((hint, i) => (
          <Text key={hint.text} dimColor={hint.disabled}>
            {i > 0 ? '  ' : ''}
            {hint.disabled ? `(${hint.text})` : hint.text}
          </Text>
        ))}
      </Text>
    </Box>
  );
}

export function TooSmall({ columns, rows }: { columns: number; rows: number }): ReactNode {
  return (
    <Box flexDirection="column" width={columns}>
      <Text wrap="wrap">
        {truncate(
          `Loopgate dashboard: the terminal is ${columns}×${rows}; it needs at least ${MIN_COLUMNS}×${MIN_ROWS}.`,
          columns * 2,
        )}
      </Text>
      <Text wrap="wrap">Enlarge the window (q quits).</Text>
    </Box>
  );
}
