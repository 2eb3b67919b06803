// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import type { ReactNode } from 'react';
import { compileLineFilter, visibleEventLines } from '../../state/index.js';
import { PaneFrame, type PaneProps, Row } from '../../ui/pane-frame.js';
import { Text } from '../../ui/screen-text.js';
import { formatClock, windowAround } from '../../ui/text.js';
import { LEVEL_COLOR, LEVEL_MARK } from '../../ui/theme.js';

/**
 * The live log: a window over the bounded buffer. Following shows the newest
 * lines; once the operator scrolls up, the window stays on the selected line
 * while new events are only counted.
 */
export function EventsPane({ state, width, height }: PaneProps): ReactNode {
  const { events } = state;
  const lines = visibleEventLines(events);
  const filter = compileLineFilter(events.filter);
  const search = compileLineFilter(events.search);
  const room = Math.max(1, height - 1);

  let start: number;
  let end: number;
  let cursorIndex = -1;
  if (events.follow || events.cursor === undefined) {
    end = lines.length;
    start = Math.max(0, end - room);
  } else {
    cursorIndex = lines.findIndex((l) => l.n >= events.cursor!);
    if (cursorIndex < 0) cursorIndex = lines.length - 1;
    ({ start, end } = windowAround(lines.length, room, cursorIndex));
  }

  const status = events.follow ? (
    <Text color="green">following</Text>
  ) : (
    <Text color="yellow" bold>
      PAUSED{events.unseen > 0 ? ` · ${events.unseen} new` : ''} (End/f follows)
    </Text>
  );
  return (
    <PaneFrame height={height}>
      <Row width={width}>
        <Text bold>Events </Text>
        {status}
        <Text>
          {' '}
          ·{' '}
          {lines.length === events.lines.length
            ? `${lines.length}`
            : `${lines.length}/${events.lines.length}`}{' '}
          of {events.capacity}
          {events.dropped > 0 ? ` (${events.dropped} older dropped)` : ''}
        </Text>
        {events.filter ? (
          <Text color="cyan">
            {' '}
            · filter /{events.filter}/{filter.warning ? ' (as text)' : ''}
          </Text>
        ) : null}
        {events.search ? <Text color="magenta"> · search "{events.search}" n/N</Text> : null}
      </Row>
      {lines.length === 0 ? (
        <Row width={width}>
          <Text dimColor>
            {events.lines.length === 0
              ? 'No events yet. They appear as the gateway emits them (health ticks feed Overview).'
              : 'No event matches the filter (Esc clears it).'}
          </Text>
        </Row>
      ) : (
        lines.slice(start, end).map((line, i) => {
          const selected = start + i === cursorIndex;
          const match = !search.empty && search.matches(`${line.type} ${line.text}`);
          return (
            <Row key={line.n} width={width}>
              <Text inverse={selected}>{selected ? '▸' : match ? '*' : ' '}</Text>
              {events.showTimestamps ? <Text dimColor>{formatClock(line.ts)} </Text> : null}
              <Text color={LEVEL_COLOR[line.level]}>{LEVEL_MARK[line.level]} </Text>
              <Text bold={match} inverse={selected}>
                {line.text}
              </Text>
            </Row>
          );
        })
      )}
    </PaneFrame>
  );
}
