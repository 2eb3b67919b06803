// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { Box } from 'ink';
import type { ReactNode } from 'react';
import type { ChatEntry, NodeView } from '../../gateway-port.js';
import { widthClass } from '../../layout.js';
import type { ChatState } from '../../state/index.js';
import { PaneFrame, type PaneProps, Row } from '../../ui/pane-frame.js';
import { Text } from '../../ui/screen-text.js';
import { cell, formatAgo, wrapLines } from '../../ui/text.js';

type Line = { key: string; label: string; labelColor?: string; text: string; color?: string };

const LABEL_WIDTH = 8;

function entryLines(
  entry: ChatEntry,
  index: number,
  width: number,
  nodeName: (id: string) => string,
): Line[] {
  const textWidth = Math.max(10, width - LABEL_WIDTH);
  const wrap = (label: string, text: string, labelColor?: string, color?: string): Line[] =>
    wrapLines(text, textWidth).map((t, i) => ({
      key: `${index}.${i}`,
      label: i === 0 ? label : '',
      ...(labelColor ? { labelColor } : {}),
      text: t,
      ...(color ? { color } : {}),
    }));
  switch (entry.kind) {
    case 'user':
      return wrap('you ›', entry.text, 'cyan');
    case 'assistant':
      return wrap('agent ›', entry.text, 'green');
    case 'error':
      return wrap('✗', entry.text, 'red', 'red');
    case 'tool': {
      const where = `${entry.command}${entry.node ? ` on ${nodeName(entry.node)}` : ''}`;
      const outcome = entry.outcome;
      if (outcome.state === 'running') return wrap('  tool', `⚙ ${where} … running`, 'yellow');
      if (outcome.state === 'ok') return wrap('  tool', `⚙ ${where} ✓ ${outcome.summary}`, 'green');
      return wrap('  tool', `⚙ ${where} ✗ ${outcome.code}: ${outcome.message}`, 'red', 'red');
    }
  }
}

export function transcriptLines(
  chat: ChatState,
  width: number,
  nodes: readonly NodeView[] = [],
): Line[] {
  const entries = [...chat.history, ...(chat.run?.entries ?? [])];
  // tool calls name the node by id; the operator knows it by name
  const nodeName = (id: string) => nodes.find((n) => n.nodeId === id)?.name ?? id;
  const lines = entries.flatMap((entry, i) => entryLines(entry, i, width, nodeName));
  if (chat.run) {
    const state = chat.run.runId === '' ? 'starting' : chat.run.state;
    lines.push({ key: 'run', label: '', text: `… ${state}`, color: 'yellow' });
  }
  return lines;
}

function sessionTitle(chat: ChatState): string {
  if (chat.sessionId === undefined) return 'new session (created on the first message)';
  const session = chat.sessions.find((s) => s.sessionId === chat.sessionId);
  return session
    ? `${session.sessionId} (${session.channel}${session.peer ? ` ${session.peer}` : ''})`
    : chat.sessionId;
}

export function ChatPane({ state, width, height, now }: PaneProps): ReactNode {
  const { chat, features } = state;
  if (features.agent === 'unavailable' && features.sessions === 'unavailable') {
    return (
      <PaneFrame height={height}>
        <Row width={width}>
          <Text dimColor>
            Chat is not available on this gateway (it has no agent or sessions procedures).
          </Text>
        </Row>
      </PaneFrame>
    );
  }
  const showList = widthClass(width) !== 'narrow';
  const listWidth = showList ? (widthClass(width) === 'wide' ? 32 : 24) : 0;
  const transcriptWidth = width - listWidth - (showList ? 1 : 0);
  const lines = transcriptLines(chat, transcriptWidth, state.nodes.list);
  const room = Math.max(1, height - 1);
  const end = Math.max(
    0,
    lines.length - Math.min(chat.scrollBack, Math.max(0, lines.length - room)),
  );
  const shown = lines.slice(Math.max(0, end - room), end);

  const transcript = (
    <Box flexDirection="column" width={transcriptWidth}>
      <Row width={transcriptWidth}>
        <Text bold>Session </Text>
        <Text>{sessionTitle(chat)}</Text>
        {chat.scrollBack > 0 && end < lines.length ? (
          <Text color="yellow"> · scrolled up (PgDn)</Text>
        ) : null}
        {chat.error && !chat.run ? (
          <Text color="red">
            {' '}
            · ✗ {chat.error.code}: {chat.error.message}
          </Text>
        ) : null}
      </Row>
      {shown.length === 0 ? (
        <Row width={transcriptWidth}>
          <Text dimColor>
            {features.agent === 'unavailable'
              ? 'The agent is not available on this gateway.'
              : 'No messages yet. Press Enter to write one (try /help or /nodes).'}
          </Text>
        </Row>
      ) : (
        shown.map((line) => (
          <Row key={line.key} width={transcriptWidth}>
            <Text color={line.labelColor} bold>
              {line.label.padEnd(LABEL_WIDTH)}
            </Text>
            <Text color={line.color}>{line.text}</Text>
          </Row>
        ))
      )}
    </Box>
  );

  if (!showList) return <PaneFrame height={height}>{transcript}</PaneFrame>;

  const sessions: { id: string | undefined; text: string }[] = [
    { id: undefined, text: '+ new session' },
    ...chat.sessions.map((s) => ({
      id: s.sessionId,
      text: `${s.channel === 'webchat' ? '' : `${s.channel} `}${s.peer ?? s.sessionId} ${formatAgo(s.updatedAt, now)}`,
    })),
  ];
  const at = Math.max(
    0,
    sessions.findIndex((s) => s.id === chat.sessionId),
  );
  const start = Math.max(0, Math.min(sessions.length - room, at - Math.floor(room / 2)));
  return (
    <PaneFrame height={height}>
      <Box flexDirection="row">
        <Box flexDirection="column" width={listWidth}>
          <Row width={listWidth}>
            <Text bold>Sessions </Text>
            <Text dimColor>
              {features.sessions === 'unavailable' ? 'n/a' : `${chat.sessions.length}`}
            </Text>
          </Row>
          {sessions.slice(start, start + room).map((s) => {
            const selected = s.id === chat.sessionId;
            return (
              <Row key={s.id ?? 'new'} width={listWidth}>
                <Text inverse={selected}>
                  {cell(`${selected ? '▸' : ' '} ${s.text}`, listWidth - 1)}
                </Text>
              </Row>
            );
          })}
        </Box>
        <Box width={1} />
        {transcript}
      </Box>
    </PaneFrame>
  );
}
