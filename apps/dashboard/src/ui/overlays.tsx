// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import type { ReactNode } from 'react';
import { COMMANDS, helpRows, SCOPE_TITLES, type Scope } from '../keys/index.js';
import { describeIntent } from '../state/index.js';
import { PaneFrame, type PaneProps, Row } from './pane-frame.js';
import { Text } from './screen-text.js';
import { cell } from './text.js';

type HelpLine =
  | { kind: 'title'; text: string }
  | { kind: 'key'; keys: string; description: string; status: string }
  | { kind: 'command'; usage: string; description: string }
  | { kind: 'reason'; text: string };

/** Every key from the binding table, and every `:` command, filtered by what was typed. */
export function helpLines(state: PaneProps['state'], filter: string): HelpLine[] {
  const lines: HelpLine[] = [];
  let scope: Scope | undefined;
  for (const row of helpRows(state, filter)) {
    if (row.scope !== scope) {
      scope = row.scope;
      lines.push({ kind: 'title', text: SCOPE_TITLES[row.scope] });
    }
    lines.push({ kind: 'key', keys: row.keys, description: row.description, status: row.status });
    // why it cannot act now, on its own line so it is never cut off
    if (row.status !== 'enabled') {
      lines.push({
        kind: 'reason',
        text: row.status === 'hidden' ? 'off in --read-only mode' : `not now: ${row.status}`,
      });
    }
  }
  const needle = filter.toLowerCase();
  const commands = COMMANDS.filter((c) =>
    `${c.usage} ${c.aliases.join(' ')} ${c.description} command`.toLowerCase().includes(needle),
  );
  if (commands.length > 0) {
    lines.push({ kind: 'title', text: 'Commands (: then Enter)' });
    for (const c of commands) {
      const aliases = c.aliases.length > 0 ? ` (${c.aliases.map((a) => `:${a}`).join(' ')})` : '';
      lines.push({ kind: 'command', usage: c.usage, description: `${c.description}${aliases}` });
    }
  }
  return lines;
}

export function HelpScreen({ state, width, height }: PaneProps): ReactNode {
  if (state.mode.kind !== 'help') return null;
  const { filter, scroll } = state.mode;
  const lines = helpLines(state, filter);
  const room = Math.max(1, height - 1);
  const start = Math.max(0, Math.min(scroll, lines.length - room));
  const keysWidth = width >= 100 ? 16 : 12;
  return (
    <PaneFrame height={height}>
      <Row width={width}>
        <Text bold>Keys </Text>
        <Text>type to filter: </Text>
        <Text color="cyan">{filter}</Text>
        <Text inverse> </Text>
        <Text dimColor>
          {'  '}
          {lines.length > room
            ? `${start + 1}-${Math.min(lines.length, start + room)} of ${lines.length} (↑↓)`
            : ''}
        </Text>
      </Row>
      {lines.length === 0 ? (
        <Row width={width}>
          <Text dimColor>Nothing matches "{filter}".</Text>
        </Row>
      ) : (
        lines.slice(start, start + room).map((line, i) => {
          const key = `${start + i}`;
          if (line.kind === 'title') {
            return (
              <Row key={key} width={width}>
                <Text bold underline>
                  {line.text}
                </Text>
              </Row>
            );
          }
          if (line.kind === 'reason') {
            return (
              <Row key={key} width={width}>
                <Text>{' '.repeat(keysWidth)}</Text>
                <Text color="yellow">↳ {line.text}</Text>
              </Row>
            );
          }
          if (line.kind === 'command') {
            return (
              <Row key={key} width={width}>
                <Text color="cyan">
                  {cell(`  ${line.usage}`, Math.min(36, Math.floor(width / 2)))}
                </Text>
                <Text>{line.description}</Text>
              </Row>
            );
          }
          const off = line.status !== 'enabled';
          return (
            <Row key={key} width={width}>
              <Text bold={!off} dimColor={off}>
                {cell(`  ${line.keys}`, keysWidth)}
              </Text>
              <Text dimColor={off}>{line.description}</Text>
            </Row>
          );
        })
      )}
    </PaneFrame>
  );
}

export function ConfirmScreen({ state, width, height }: PaneProps): ReactNode {
  if (state.mode.kind !== 'confirm') return null;
  return (
    <PaneFrame height={height}>
      <Row width={width}>
        <Text color="yellow" bold>
          Confirm
        </Text>
      </Row>
      <Row width={width}>
        <Text>{describeIntent(state.mode.intent)}?</Text>
      </Row>
      <Row width={width}>
        <Text> </Text>
      </Row>
      <Row width={width}>
        <Text bold>y</Text>
        <Text> yes, do it · </Text>
        <Text bold>n</Text>
        <Text> or </Text>
        <Text bold>Esc</Text>
        <Text> cancel</Text>
      </Row>
    </PaneFrame>
  );
}
