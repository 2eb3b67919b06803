import { describe, expect, it } from 'vitest';
import { buildBox, liveState, NOW, reduce } from './fixtures.js';
import { expectFits, frameOf, rawFrameOf, WIDTHS } from './render.js';

const ROWS = 24;
const FINGERPRINT = Array.from({ length: 32 }, () => 'AB').join(':');
const IMPOSTOR = Array.from({ length: 32 }, () => 'CD').join(':');

describe.each(WIDTHS)('at %i columns', (columns) => {
  const base = () => liveState({ columns, rows: ROWS });

  it('Overview shows health, latency sparkline, connections, channels and the status line', () => {
    const frame = frameOf(base());
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('[1 Overview]');
    expect(frame).toContain('✓ ok');
    expect(frame).toMatch(/Latency\s+1\.1ms/);
    expect(frame).toMatch(/[▁▂▃▄▅▆▇█]{3}/);
    expect(frame).toContain('2 operators · 1 node · 3 total');
    expect(frame).toContain('✓ webchat');
    expect(frame).toContain('✗ telegram');
    // status line: state in words, round trip, target, TLS, tunnel
    expect(frame).toMatch(
      /● open {1,2}(rtt )?1\.1ms {1,2}(ws:\/\/)?127\.0\.0\.1:18789 {1,2}tls off {1,2}tun(nel)? none/,
    );
    // uptime keeps ticking from the health sample
    expect(frame).toContain('up 3h 12m');
  });

  it('Overview says what it waits for and what to try while reconnecting', () => {
    const state = reduce(base(), {
      type: 'link.changed',
      link: { state: 'reconnecting', attempt: 3, reason: 'connection refused' },
      at: NOW - 9_000,
    });
    const frame = frameOf(state);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('reconnecting, attempt 3 (waiting 9s)');
    expect(frame).toContain('last error: connection refused');
    expect(frame).toContain('loopgate gateway run');
    expect(frame).toContain('↻ reconnecting 3');
    expect(frame).toContain('(last known)');
  });

  it('Nodes lists pending requests first, then nodes with state in words and their commands', () => {
    const frame = frameOf(reduce(base(), { type: 'pane.selected', pane: 'nodes' }));
    expectFits(frame, columns, ROWS);
    const lines = frame.split('\n');
    const pending = lines.findIndex((l) => l.includes('! pending') && l.includes('laptop'));
    const online = lines.findIndex((l) => l.includes('● online') && l.includes('build-box'));
    const offline = lines.findIndex((l) => l.includes('○ offline') && l.includes('pi-kitchen'));
    expect(pending).toBeGreaterThan(0);
    expect(online).toBeGreaterThan(pending);
    expect(offline).toBeGreaterThan(online);
    expect(frame).toContain('2 Nodes](1 pending)');
    expect(frame).toContain('system.info');
    // the selection stays on the node it was on when the request arrived
    expect(lines[online]).toContain('▸');
    expect(frame).toMatch(/\(a approve\) {2}\(x reject\) {2}i invoke/);
    expect(frame).toContain('nd_build · linux 0.1.0 · 2 commands');

    const onRequest = frameOf(
      reduce(
        base(),
        { type: 'pane.selected', pane: 'nodes' },
        { type: 'nodes.selection-moved', step: -1 },
      ),
    );
    expect(onRequest.split('\n').find((l) => l.includes('laptop'))).toContain('▸');
    // the footer: approve and reject work on the selected request; invoke needs a node
    expect(onRequest).toMatch(/a approve {2}x reject {2}\(i invoke\)/);
    expect(onRequest).toContain('Pairing request pr_laptop code LAPT-QPXZ');
    // the code the operator compares with the node's output, on the request's own row
    expect(lines[pending]).toContain('LAPT-QPXZ');
    expect(lines[online]).toContain('BQXT-7KMA');
    // D removes the selected node: in the footer like a, x and i (where the width allows)
    if (columns >= 80) expect(frame).toMatch(/i invoke {2}D remove/);
  });

  it('Nodes in --read-only offers no key that changes the gateway, in the detail line or the footer', () => {
    const readOnly = { ...base(), readOnly: true };
    const frame = frameOf(reduce(readOnly, { type: 'pane.selected', pane: 'nodes' }));
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('nd_build · linux 0.1.0 · 2 commands');
    expect(frame).not.toMatch(/i invoke|D remove|a approve|x reject/);
  });

  it('Nodes shows an invoke result, and a typed error with its hint', () => {
    const started = reduce(base(), {
      type: 'invoke.started',
      nodeId: 'nd_build',
      command: 'system.info',
      paramsText: '{}',
      at: NOW,
    });
    const ok = reduce(started, {
      type: 'invoke.succeeded',
      resultText: '{\n  "hostname": "vm"\n}',
      at: NOW + 12,
    });
    let frame = frameOf(ok);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('Invoke system.info on build-box {} ✓ ok in 12ms');
    expect(frame).toContain('"hostname": "vm"');

    const failed = reduce(started, {
      type: 'invoke.failed',
      error: {
        code: 'COMMAND_NOT_ALLOWED',
        message: 'system.run is not approved',
        hint: 'approve it at pairing',
      },
      at: NOW + 5,
    });
    frame = frameOf(failed);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('✗ failed');
    expect(frame).toContain('COMMAND_NOT_ALLOWED: system.run is not approved');
    expect(frame).toContain('hint: approve it at pairing');
  });

  it('Nodes says when the gateway has no nodes procedures', () => {
    const state = reduce(
      base(),
      { type: 'pane.selected', pane: 'nodes' },
      { type: 'feature.availability', feature: 'nodes', availability: 'unavailable' },
    );
    expect(frameOf(state)).toContain('Nodes are not available on this gateway');
  });

  it('Chat shows the transcript with tool calls and the live run', () => {
    const state = reduce(
      base(),
      { type: 'pane.selected', pane: 'chat' },
      { type: 'chat.session-opened', sessionId: 'op_1' },
      {
        type: 'chat.history-loaded',
        sessionId: 'op_1',
        history: [
          { kind: 'user', text: '/nodes' },
          { kind: 'assistant', text: 'build-box: system.info, system.notify' },
        ],
      },
      { type: 'chat.sent', text: '/invoke build-box system.info' },
      { type: 'chat.run-started', runId: 'run_1', sessionId: 'op_1' },
      {
        type: 'chat.run-updated',
        runId: 'run_1',
        update: { kind: 'tool-started', callId: 'c1', node: 'build-box', command: 'system.info' },
      },
      {
        type: 'chat.run-updated',
        runId: 'run_1',
        update: {
          kind: 'tool-finished',
          callId: 'c1',
          outcome: { state: 'ok', summary: '{"hostname":"vm"}' },
        },
      },
      {
        type: 'chat.run-updated',
        runId: 'run_1',
        update: { kind: 'text-delta', text: 'build-box is ' },
      },
      {
        type: 'chat.run-updated',
        runId: 'run_1',
        update: { kind: 'text-delta', text: 'a linux box' },
      },
    );
    const frame = frameOf(state);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('you ›');
    expect(frame).toContain('/nodes');
    expect(frame).toContain('agent ›');
    expect(frame).toContain('⚙ system.info on build-box ✓ {"hostname":"vm"}');
    expect(frame).toContain('build-box is a linux box');
    expect(frame).toContain('… running');
    if (columns >= 76) expect(frame).toContain('+ new session');
    else expect(frame).toContain('Session op_1 (webchat)');
  });

  it('Events follows by default and shows how many arrived while paused', () => {
    let state = reduce(base(), { type: 'pane.selected', pane: 'events' });
    let frame = frameOf(state);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('Events following');
    expect(frame).toContain('node "build-box" online');
    // the node by its name, not its id (long lines are cut at 60 columns)
    expect(frame).toContain('✗ invoke system.info on "build-box" fai');
    expect(frame).not.toContain('nd_build');
    expect(frame).toMatch(/12:00:00|\d\d:\d\d:\d\d/);

    state = reduce(
      state,
      { type: 'events.scrolled', delta: -1 },
      {
        type: 'events.received',
        batch: [
          {
            id: '13',
            event: {
              type: 'node.offline',
              nodeId: 'nd_pi',
              name: 'pi-kitchen',
              reason: 'socket closed',
              ts: NOW,
            },
          },
        ],
      },
    );
    frame = frameOf(state);
    expect(frame).toContain('PAUSED · 1 new');
    expect(frame).toMatch(/▸.*pairing requested by "laptop"/);

    state = reduce(state, { type: 'events.timestamps-toggled' });
    expect(frameOf(state)).not.toMatch(/\d\d:\d\d:\d\d [·✓!✗]/);
  });

  it('Connection shows target, tunnel, TLS and the editable remote settings', () => {
    const state = reduce(
      base(),
      { type: 'pane.selected', pane: 'connection' },
      {
        type: 'transport.changed',
        transport: {
          via: 'tunnel',
          tls: { enabled: true, presented: FINGERPRINT, pinned: [FINGERPRINT] },
          tunnel: { state: 'retrying', attempt: 2, reason: 'server stopped answering' },
          ssh: { target: 'op@home' },
        },
      },
      { type: 'connection.mode-toggled' },
      { type: 'connection.field-set', field: 'ssh.target', value: 'op@home' },
    );
    const frame = frameOf(state);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('via tunnel');
    expect(frame).toContain('retrying 2: server stopped answering');
    expect(frame).toContain('pinned (1)');
    expect(frame).toMatch(/presented +AB:AB/);
    expect(frame).toMatch(/▸ mode +remote/);
    expect(frame).toContain('op@home');
    expect(frame).toContain('unsaved changes');
    // all five parts of the status line stay visible, shortened when narrow
    expect(frame).toMatch(/● open .*ms .*127\.0\.0\.1:18789 .*tls pinned ✓ .*tun(nel)? retrying 2/);
  });

  it('Connection shows the mismatch screen with expected and presented fingerprints', () => {
    const state = reduce(
      base(),
      { type: 'pane.selected', pane: 'connection' },
      {
        type: 'link.changed',
        link: { state: 'pin-mismatch', expected: [FINGERPRINT], presented: IMPOSTOR },
        at: NOW,
      },
    );
    const frame = frameOf(state);
    expectFits(frame, columns, ROWS);
    expect(frame).toContain('TLS PIN MISMATCH');
    // both fingerprints are on screen whole, in lines of whole bytes, at any width
    const bytesOf = (label: string) =>
      frame
        .split('\n')
        .filter(
          (l) =>
            /^(expected|presented| ) +[A-F0-9]{2}:/.test(l) &&
            (label === 'presented') === l.includes('CD'),
        )
        .map((l) => l.trim().replace(/^(expected|presented) +/, ''))
        .join(':');
    expect(bytesOf('expected')).toBe(FINGERPRINT);
    expect(bytesOf('presented')).toBe(IMPOSTOR);
    expect(frame).toMatch(/expected +AB:/);
    expect(frame).toMatch(/presented +CD:/);
    expect(frame).toContain('loopgate gateway tls fingerprint');
    expect(frame).toContain('✗ pin mismatch');
  });

  it('keeps every pane inside the window at the minimum height', () => {
    for (const pane of ['overview', 'nodes', 'chat', 'events', 'connection'] as const) {
      const state = reduce(liveState({ columns, rows: 16 }), { type: 'pane.selected', pane });
      expectFits(frameOf(state), columns, 16);
    }
  });
});

describe('terminal size', () => {
  it('says what size it needs when the window is too small', () => {
    const frame = frameOf(liveState({ columns: 50, rows: 10 }));
    expect(frame.replace(/\s+/g, ' ')).toContain('the terminal is 50×10; it needs at least 60×16');
    expect(frame).toContain('Enlarge the window');
  });

  it('lays the Nodes table out wider at 120 columns (platform and last seen columns)', () => {
    const wide = frameOf(
      reduce(liveState({ columns: 120, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    const narrow = frameOf(
      reduce(liveState({ columns: 60, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    expect(wide).toContain('PLATFORM');
    expect(wide).toContain('LAST SEEN');
    expect(narrow).not.toContain('PLATFORM');
    // The wide table's row for the node carries its platform in that column; the narrow one does not.
    const rowOf = (frame: string) => frame.split('\n').find((line) => line.includes(buildBox.name));
    expect(rowOf(wide)).toMatch(/\blinux\b/);
    expect(rowOf(narrow)).not.toMatch(/\blinux\b/);
  });
});

/** A control character other than the frame's line breaks, or a bidi override, once Ink's colour codes are set aside. */
function peerControlsIn(rawFrame: string): RegExpMatchArray | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Ink's own colour codes are ESC [ … m
  const ours = rawFrame.replace(/\u001B\[[0-9;]*m/g, '');
  return ours.match(/[^\P{Cc}\n]|[\u202a-\u202e\u2066-\u2069]/u);
}

describe('hardening row 45: peers’ text in the Chat and Events panes', () => {
  const HOSTILE = 'hi\u001b]52;c;SGVsbG8=\u0007\u001b[2J\r\u202eyes';
  const SHOWN = 'hi\\x1b]52;c;SGVsbG8=\\x07\\x1b[2J\\x0d\\u202eyes';

  it('row 45: an agent’s reply shows its control characters made visible, not sent to the terminal', () => {
    const state = reduce(
      liveState({ columns: 120, rows: ROWS }),
      { type: 'pane.selected', pane: 'chat' },
      { type: 'chat.session-opened', sessionId: 'op_1' },
      {
        type: 'chat.history-loaded',
        sessionId: 'op_1',
        history: [{ kind: 'assistant', text: HOSTILE }],
      },
    );
    const raw = rawFrameOf(state);
    expect(peerControlsIn(raw)).toBeNull();
    expect(frameOf(state)).toContain(SHOWN);
  });

  it('row 45: an agent run’s error and a channel message’s peer in Events show their control characters made visible', () => {
    const state = reduce(
      liveState({ columns: 120, rows: ROWS }),
      { type: 'pane.selected', pane: 'events' },
      {
        type: 'events.received',
        batch: [
          {
            id: '20',
            event: {
              type: 'agent.run',
              runId: 'run_9',
              sessionId: 'op_1',
              state: 'failed',
              error: HOSTILE,
              ts: NOW,
            },
          },
          {
            id: '21',
            event: {
              type: 'channel.message',
              channel: 'webchat',
              direction: 'inbound',
              peer: HOSTILE,
              ts: NOW,
            },
          },
        ],
      },
    );
    const raw = rawFrameOf(state);
    expect(peerControlsIn(raw)).toBeNull();
    expect(frameOf(state)).toContain(`agent run run_9 failed: ${SHOWN}`);
    expect(frameOf(state)).toContain(`webchat ← ${SHOWN}`);
  });
});
