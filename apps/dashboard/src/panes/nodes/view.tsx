// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import type { ReactNode } from 'react';
import { widthClass } from '../../layout.js';
import { type InvokeView, type NodeRow, nodeRows, selectedNodeRow } from '../../state/index.js';
import { PaneFrame, type PaneProps, Row } from '../../ui/pane-frame.js';
import { Text } from '../../ui/screen-text.js';
import { cell, formatAgo, formatMs, windowAround, wrapLines } from '../../ui/text.js';
import { LEVEL_COLOR } from '../../ui/theme.js';

type Columns = { state: number; name: number; code: number; platform: number; seen: number };

/** The pairing code column fits `ABCD-EFGH` at every width: it is what the operator compares. */
function columnsFor(width: number): Columns {
  switch (widthClass(width)) {
    case 'wide':
      return { state: 10, name: 20, code: 11, platform: 10, seen: 14 };
    case 'medium':
      return { state: 10, name: 16, code: 11, platform: 8, seen: 11 };
    case 'narrow':
      return { state: 10, name: 14, code: 11, platform: 0, seen: 0 };
  }
}

/** What is left for the commands once the fixed columns (and the selection marker) are placed. */
function commandsWidthFor(cols: Columns, width: number): number {
  return Math.max(6, width - 2 - cols.state - cols.name - cols.code - cols.platform - cols.seen);
}

function rowText(
  row: NodeRow,
  cols: Columns,
  width: number,
  now: number,
): { state: string; rest: string; color?: string } {
  const commandsWidth = commandsWidthFor(cols, width);
  if (row.kind === 'pending') {
    const r = row.request;
    return {
      state: cell('! pending', cols.state),
      color: 'yellow',
      rest:
        cell(r.contested ? `${r.name} ⚠` : r.name, cols.name) +
        cell(r.pairingCode, cols.code) +
        (cols.platform ? cell(r.platform ?? '', cols.platform) : '') +
        cell(`asks for ${r.commands.join(', ') || 'no commands'}`, commandsWidth) +
        (cols.seen ? cell(`req ${formatAgo(r.requestedAt, now)}`, cols.seen) : ''),
    };
  }
  const n = row.node;
  const online = n.state === 'online';
  return {
    state: cell(online ? '● online' : '○ offline', cols.state),
    ...(online ? { color: 'green' } : {}),
    rest:
      cell(n.name, cols.name) +
      cell(n.pairingCode ?? '—', cols.code) +
      (cols.platform ? cell(n.platform ?? '', cols.platform) : '') +
      cell(n.commands.join(', ') || 'no commands', commandsWidth) +
      (cols.seen ? cell(online ? 'now' : formatAgo(n.lastSeenAt, now), cols.seen) : ''),
  };
}

function invokeLines(
  invoke: InvokeView,
  width: number,
): { text: string; color?: string; bold?: boolean }[] {
  const head = `Invoke ${invoke.command} on ${invoke.nodeName} ${invoke.paramsText}`;
  switch (invoke.outcome.state) {
    case 'running':
      return [{ text: `${head} … running`, bold: true }];
    case 'ok':
      return [
        {
          text: `${head} ✓ ok in ${formatMs(invoke.outcome.durationMs)}`,
          color: 'green',
          bold: true,
        },
        ...wrapLines(invoke.outcome.resultText, width).map((text) => ({ text })),
      ];
    case 'failed': {
      const { error } = invoke.outcome;
      return [
        {
          text: `${head} ✗ failed in ${formatMs(invoke.outcome.durationMs)}`,
          color: 'red',
          bold: true,
        },
        { text: `${error.code}: ${error.message}`, color: 'red' },
        ...(error.hint ? [{ text: `hint: ${error.hint}` }] : []),
      ];
    }
  }
}

export function NodesPane({ state, width, height, now }: PaneProps): ReactNode {
  const { nodes, features } = state;
  if (features.nodes === 'unavailable') {
    return (
      <PaneFrame height={height}>
        <Row width={width}>
          <Text dimColor>Nodes are not available on this gateway (it has no nodes.list).</Text>
        </Row>
      </PaneFrame>
    );
  }
  if (state.mode.kind === 'pick-command')
    return <CommandPicker state={state} width={width} height={height} />;

  const rows = nodeRows(nodes);
  const selected = selectedNodeRow(nodes);
  const cols = columnsFor(width);
  const lines: ReactNode[] = [];
  const summary = `${nodes.list.filter((n) => n.state === 'online').length} online · ${nodes.list.length} paired · ${nodes.pending.length} pending`;
  lines.push(
    <Row key="title" width={width}>
      <Text bold>Nodes </Text>
      <Text>{summary}</Text>
      {nodes.filter ? <Text color="cyan"> · filter /{nodes.filter}/</Text> : null}
      {nodes.error ? (
        <Text color="red">
          {' '}
          · ✗ {nodes.error.code}: {nodes.error.message}
        </Text>
      ) : null}
    </Row>,
  );

  const invoke = nodes.invoke ? invokeLines(nodes.invoke, width) : [];
  // the list keeps at least a few rows; an invoke result takes the rest
  const listRoom =
    invoke.length > 0
      ? Math.max(3, Math.min(rows.length + 1, height - 1 - Math.min(invoke.length, height - 5)))
      : height - 1;
  if (rows.length === 0) {
    lines.push(
      <Row key="empty" width={width}>
        <Text dimColor>
          {nodes.filter
            ? 'No node matches the filter (Esc clears it).'
            : 'No nodes yet. Start one with: loopgate node run'}
        </Text>
      </Row>,
    );
  } else {
    const commandsWidth = commandsWidthFor(cols, width);
    const header = `  ${cell('STATE', cols.state)}${cell('NAME', cols.name)}${cell('CODE', cols.code)}${cols.platform ? cell('PLATFORM', cols.platform) : ''}${cell('COMMANDS', commandsWidth)}${cols.seen ? 'LAST SEEN' : ''}`;
    lines.push(
      <Row key="header" width={width}>
        <Text dimColor>{header}</Text>
      </Row>,
    );
    const cursor = Math.max(
      0,
      rows.findIndex((r) => r.key === selected?.key),
    );
    const { start, end } = windowAround(rows.length, Math.max(1, listRoom - 1), cursor);
    for (const row of rows.slice(start, end)) {
      const isSelected = row.key === selected?.key;
      const text = rowText(row, cols, width, now);
      lines.push(
        <Row key={row.key} width={width}>
          <Text inverse={isSelected}>{isSelected ? '▸ ' : '  '}</Text>
          <Text color={text.color} inverse={isSelected}>
            {text.state}
          </Text>
          <Text inverse={isSelected}>{text.rest}</Text>
        </Row>,
      );
    }
  }

  if (invoke.length > 0 && nodes.invoke) {
    // the result's headline stays; its body scrolls
    const [headline, ...body] = invoke;
    const room = Math.max(0, height - lines.length - 1);
    const scroll = Math.min(nodes.invoke.scroll, Math.max(0, body.length - room));
    const more = body.length - scroll - room;
    const shownBody = body.slice(scroll, scroll + room);
    if (more > 0 && shownBody.length > 0)
      shownBody[shownBody.length - 1] = { text: `… ${more + 1} more lines (PgDn)`, color: 'cyan' };
    for (const [i, line] of [headline!, ...shownBody].entries()) {
      lines.push(
        <Row key={`inv${i}`} width={width}>
          <Text color={line.color} bold={line.bold}>
            {line.text}
          </Text>
        </Row>,
      );
    }
  } else if (selected && lines.length < height) {
    const detail =
      selected.kind === 'pending'
        ? `Pairing request ${selected.request.requestId} code ${selected.request.pairingCode} from ${selected.request.remoteAddress ?? 'unknown address'}${selected.request.contested ? ' · another key asked for this name' : ''}${state.readOnly ? '' : " — compare the code with the node's output · a approve · x reject"}`
        : `${selected.node.nodeId} · ${selected.node.platform ?? '?'} ${selected.node.version ?? ''} · ${selected.node.commands.length} commands${state.readOnly ? '' : ' — i invoke'}`;
    lines.push(
      <Row key="detail" width={width}>
        <Text dimColor>{detail}</Text>
      </Row>,
    );
  }
  return <PaneFrame height={height}>{lines.slice(0, height)}</PaneFrame>;
}

function CommandPicker({
  state,
  width,
  height,
}: Pick<PaneProps, 'state' | 'width' | 'height'>): ReactNode {
  if (state.mode.kind !== 'pick-command') return null;
  const { nodeId, index } = state.mode;
  const node = state.nodes.list.find((n) => n.nodeId === nodeId);
  const commands = node?.commands ?? [];
  const { start, end } = windowAround(commands.length, Math.max(1, height - 1), index);
  return (
    <PaneFrame height={height}>
      <Row width={width}>
        <Text bold>Invoke on {node?.name ?? nodeId}: </Text>
        <Text>choose a command (Enter), then type its JSON params</Text>
      </Row>
      {commands.slice(start, end).map((command, i) => {
        const isSelected = start + i === index;
        return (
          <Row key={command} width={width}>
            <Text inverse={isSelected} color={isSelected ? LEVEL_COLOR.ok : undefined}>
              {isSelected ? '▸ ' : '  '}
              {command}
            </Text>
          </Row>
        );
      })}
    </PaneFrame>
  );
}
