import { deniedProcedures } from '@loopgate/gateway';
import { afterEach, describe, expect, it } from 'vitest';
import { footerHints, helpRows, KEY_BINDINGS, parseCommand } from '../src/keys/index.js';
import { liveState, reduce } from './fixtures.js';
import { expectFits, KEYS, type LiveDashboard, liveDashboard, WIDTHS } from './render.js';

let dashboard: LiveDashboard | undefined;
afterEach(() => {
  dashboard?.unmount();
  dashboard = undefined;
});

describe('the keybinding table', () => {
  it('gives every binding an id, keys or text input, a description and a scope, with no key claimed twice in a scope', () => {
    const ids = new Set<string>();
    const claimed = new Set<string>();
    for (const binding of KEY_BINDINGS) {
      expect(ids.has(binding.id), binding.id).toBe(false);
      ids.add(binding.id);
      expect(binding.description.length).toBeGreaterThan(3);
      expect(binding.keys.length > 0 || binding.takesText === true, binding.id).toBe(true);
      for (const key of binding.keys) {
        const slot = `${binding.scope}:${key}`;
        expect(claimed.has(slot), slot).toBe(false);
        claimed.add(slot);
      }
    }
  });

  it('builds the footer from the table: the keys of this pane first, disabled ones with their reason', () => {
    const state = reduce(liveState({ columns: 120, rows: 24 }), {
      type: 'pane.selected',
      pane: 'nodes',
    });
    const hints = footerHints(state);
    expect(hints.map((h) => h.label)).toEqual([
      'select',
      'approve',
      'reject',
      'invoke',
      'remove',
      'filter',
      'panes',
      'help',
      'cmd',
      'refresh',
      'quit',
    ]);
    expect(hints.find((h) => h.label === 'approve')?.disabledReason).toBe(
      'select a pending request',
    );
    expect(hints.find((h) => h.label === 'invoke')?.disabledReason).toBeUndefined();
  });

  it('hides what changes the gateway in read-only mode, in the footer and in help', () => {
    const state = reduce(liveState({ columns: 120, rows: 24, readOnly: true }), {
      type: 'pane.selected',
      pane: 'nodes',
    });
    expect(footerHints(state).map((h) => h.label)).toEqual([
      'select',
      'filter',
      'panes',
      'help',
      'cmd',
      'refresh',
      'quit',
    ]);
    const approve = helpRows(state, 'approve').find((r) =>
      r.description.startsWith('approve the selected'),
    );
    expect(approve?.status).toBe('hidden');
  });

  it('parses : commands and their aliases, and says what is wrong with a bad one', () => {
    const state = liveState({ columns: 80, rows: 24 });
    expect(parseCommand(':no', state)).toEqual({
      effects: [{ dispatch: { type: 'pane.selected', pane: 'nodes' } }],
    });
    expect(parseCommand('invoke build-box system.info {"verbose": true}', state)).toEqual({
      effects: [
        { dispatch: { type: 'mode.set', mode: { kind: 'normal' } } },
        {
          perform: {
            kind: 'invoke',
            nodeId: 'nd_build',
            command: 'system.info',
            params: { verbose: true },
          },
        },
      ],
    });
    expect(parseCommand('send telegram 42 hello there', state)).toEqual({
      effects: [
        { dispatch: { type: 'mode.set', mode: { kind: 'normal' } } },
        { perform: { kind: 'send', channel: 'telegram', to: '42', text: 'hello there' } },
      ],
    });
    expect(parseCommand('approve laptop', state)).toEqual({
      effects: [{ confirm: { kind: 'approve-pairing', requestId: 'pr_laptop', name: 'laptop' } }],
    });
    expect(parseCommand('connect wss://home.example:18789', state)).toMatchObject({
      effects: [{}, { perform: { kind: 'connect', url: 'wss://home.example:18789' } }],
    });
    expect(parseCommand('invoke build-box system.info {oops', state)).toEqual({
      error: expect.stringContaining('params are not valid JSON'),
    });
    expect(parseCommand('send telegram', state)).toEqual({
      error: 'usage: :send <channel> <to> <text>',
    });
    expect(parseCommand('frobnicate', state)).toEqual({
      error: 'unknown command ":frobnicate" — :help lists them',
    });
    expect(parseCommand('connect http://x', state)).toEqual({
      error: 'expected ws://host:port or wss://host:port, got "http://x"',
    });
  });
});

describe.each(WIDTHS)('keys at %i columns', (columns) => {
  it('switches panes with numbers and Tab, and Esc backs out to Overview', async () => {
    dashboard = await liveDashboard(liveState({ columns, rows: 24 }));
    expect(dashboard.frame()).toContain('[1 Overview]');
    await dashboard.press('4');
    expect(dashboard.frame()).toContain('[4 Events]');
    expect(dashboard.frame()).toContain('Events following');
    await dashboard.press(KEYS.tab);
    expect(dashboard.frame()).toContain('[5 Connection]');
    await dashboard.press(KEYS.shiftTab, KEYS.shiftTab);
    expect(dashboard.frame()).toContain('[3 Chat]');
    await dashboard.press(KEYS.esc);
    expect(dashboard.frame()).toContain('[1 Overview]');
  });

  it('opens help with ?, filters it by typing, and closes it with Esc', async () => {
    dashboard = await liveDashboard(liveState({ columns, rows: 24 }));
    await dashboard.press('?');
    expect(dashboard.frame()).toContain('Keys type to filter');
    expect(dashboard.frame()).toContain('All panes');
    await dashboard.press('t', 'i', 'm', 'e');
    const filtered = dashboard.frame();
    expect(filtered).toContain('show or hide timestamps');
    expect(filtered).not.toContain('approve the selected');
    await dashboard.press(
      KEYS.backspace,
      KEYS.backspace,
      KEYS.backspace,
      KEYS.backspace,
      'p',
      'i',
      'n',
    );
    expect(dashboard.frame()).toMatch(
      /pin the certificate[^\n]*\n +↳ not now: not a wss:\/\/ target/,
    );
    await dashboard.press(KEYS.esc);
    expect(dashboard.frame()).toContain('✓ ok');
  });

  it('asks before approving a pairing request and performs it only after y', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    await dashboard.press('a');
    expect(dashboard.frame()).toContain('approve: select a pending request');
    await dashboard.press(KEYS.up, 'a');
    expect(dashboard.frame()).toContain('Approve pairing of "laptop" (pr_laptop)');
    expect(dashboard.frame()).toContain('y yes');
    await dashboard.press('n');
    expect(dashboard.intents).toEqual([]);
    expect(dashboard.frame()).toContain('cancelled');
    await dashboard.press('a', 'y');
    expect(dashboard.intents).toEqual([
      { kind: 'approve-pairing', requestId: 'pr_laptop', name: 'laptop' },
    ]);
  });

  it('invokes a command: pick it, type JSON params into an empty field that shows their shape, and refuses params that are not JSON', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    await dashboard.press('i');
    expect(dashboard.frame()).toContain('Invoke on build-box');
    await dashboard.press(KEYS.down, KEYS.enter);
    const prompt =
      dashboard
        .frame()
        .split('\n')
        .find((l) => l.includes('params (JSON) ›')) ?? '';
    // the field starts empty: what is typed is the whole JSON, and the command's shape is the hint
    expect(prompt).toMatch(/^system\.notify params \(JSON\) › {3}\{"message": string/);
    await dashboard.press('{"message": "hi"');
    expect(dashboard.frame()).not.toContain('"message": string');
    await dashboard.press(KEYS.enter);
    expect(dashboard.frame()).toContain('params are not valid JSON');
    expect(dashboard.intents).toEqual([]);
    await dashboard.press('}', KEYS.enter);
    expect(dashboard.intents).toEqual([
      { kind: 'invoke', nodeId: 'nd_build', command: 'system.notify', params: { message: 'hi' } },
    ]);
  });

  it('invokes with an empty params field as {}', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    await dashboard.press('i', KEYS.enter);
    expect(dashboard.frame()).toContain('system.info params (JSON) ›   no params · Enter sends {}');
    await dashboard.press(KEYS.enter);
    expect(dashboard.intents).toEqual([
      { kind: 'invoke', nodeId: 'nd_build', command: 'system.info', params: {} },
    ]);
  });

  it('clears a field with Ctrl-U typed in the same input burst as the / that opened it', async () => {
    dashboard = await liveDashboard(
      reduce(
        liveState({ columns, rows: 24 }),
        { type: 'pane.selected', pane: 'events' },
        { type: 'events.filtered', filter: 'lap' },
      ),
    );
    // one stdin chunk, as a fast typist or tmux send-keys delivers it
    await dashboard.press('/\u0015');
    expect(dashboard.store.getState().mode).toEqual({
      kind: 'input',
      input: { kind: 'events-filter', text: '' },
    });
    expect(dashboard.store.getState().events.filter).toBe('');
    await dashboard.press('x\u0015y');
    expect(dashboard.store.getState().mode).toMatchObject({ input: { text: 'y' } });
  });

  it('takes a token in a masked field: never on screen or in a state dump, a file reference shown as typed', async () => {
    const secret = 'sk-very-secret-0123456789';
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'connection' }),
    );
    const toToken = Array.from({ length: 8 }, () => KEYS.down);
    await dashboard.press(...toToken, KEYS.enter);
    expect(dashboard.frame()).toContain('token ›');
    expect(dashboard.frame()).toContain('file:<path> or env:<NAME>');
    await dashboard.press(secret);
    expect(dashboard.frame()).not.toContain(secret);
    expect(dashboard.frame()).not.toContain('sk-very');
    expect(dashboard.frame()).toContain('token › ••••');
    await dashboard.press(KEYS.enter);
    let frame = dashboard.frame();
    expect(frame).not.toContain(secret);
    expect(frame).toMatch(/token +••••••••/);
    expect(JSON.stringify(dashboard.store.getState())).not.toContain(secret);
    expect(dashboard.store.getState().connection.draft.token).toMatchObject({ from: 'inline' });
    // editing again starts empty: the secret is never put back on the screen
    await dashboard.press(KEYS.enter);
    expect(dashboard.store.getState().mode).toMatchObject({ input: { field: 'token', text: '' } });
    await dashboard.press('file:~/.loopgate/remote-token', KEYS.enter);
    frame = dashboard.frame();
    expect(frame).toContain('from file ~/.loopgate/remote-token');
    expect(dashboard.intents).toEqual([]);
  });

  it('runs : commands typed in command mode', async () => {
    dashboard = await liveDashboard(liveState({ columns, rows: 24 }));
    await dashboard.press(':', 'e', 'v', KEYS.enter);
    expect(dashboard.frame()).toContain('[4 Events]');
    await dashboard.press(':', ...'invoke pi-kitchen system.info');
    expect(dashboard.frame()).toContain(':invoke pi-kitchen system.info');
    await dashboard.press(KEYS.enter);
    expect(dashboard.intents).toEqual([
      { kind: 'invoke', nodeId: 'nd_pi', command: 'system.info', params: {} },
    ]);
    await dashboard.press(':', 'x', 'y', 'z', KEYS.enter);
    expect(dashboard.frame()).toContain('unknown command ":xyz"');
    // typed fast or pasted, a whole line arrives as one chunk and still works key by key
    await dashboard.press(KEYS.esc, ':conn\r');
    expect(dashboard.frame()).toContain('[5 Connection]');
  });

  it('pauses the event log when scrolled up, filters it live with /, and follows again with End', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'events' }),
    );
    await dashboard.press(KEYS.up);
    expect(dashboard.frame()).toContain('PAUSED');
    await dashboard.press('/', 'l', 'a', 'p');
    expect(dashboard.frame()).toContain('filter /lap');
    expect(dashboard.frame()).toContain('pairing requested by "laptop"');
    expect(dashboard.frame()).not.toContain('node "build-box" online');
    await dashboard.press(KEYS.enter, 'f');
    expect(dashboard.frame()).toContain('Events following');
    await dashboard.press(KEYS.esc);
    expect(dashboard.frame()).not.toContain('filter /lap');
  });

  it('says why a key cannot act now, and refuses mutating keys in read-only mode', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24, readOnly: true }), {
        type: 'pane.selected',
        pane: 'nodes',
      }),
    );
    expect(dashboard.frame()).toContain('[read-only]');
    expect(dashboard.frame()).not.toContain('approve');
    await dashboard.press(KEYS.up, 'a');
    expect(dashboard.frame()).toContain(
      'read-only mode: approve the selected pairing request (asks first) is turned off',
    );
    expect(dashboard.intents).toEqual([]);
  });

  it('follows the scope: keys a read token may not use show as unavailable with the scope they need', async () => {
    // The denied list as the gateway's whoami builds it, from the real table.
    const access = { principal: 'operator.read', denied: deniedProcedures('operator.read') };
    const state = reduce(
      liveState({ columns, rows: 24 }),
      { type: 'access.known', access },
      { type: 'pane.selected', pane: 'nodes' },
    );
    const reasons = Object.fromEntries(footerHints(state).map((h) => [h.label, h.disabledReason]));
    expect(reasons.invoke).toBe('needs operator.write (this connection is operator.read)');
    expect(reasons.approve).toBe('needs operator.admin (this connection is operator.read)');
    expect(reasons.select).toBeUndefined();
    const remove = helpRows(state, 'remove the selected node').at(0);
    expect(remove?.status).toBe('needs operator.admin (this connection is operator.read)');

    dashboard = await liveDashboard(state);
    expect(dashboard.frame()).toContain('[operator.read]');
    await dashboard.press('i');
    expect(dashboard.frame()).toContain(
      'invoke: needs operator.write (this connection is operator.read)',
    );
    expect(dashboard.intents).toEqual([]);
    expect(dashboard.store.getState().mode.kind).toBe('normal');
  });

  it('shows every key to an admin connection, with no scope badge', async () => {
    const access = { principal: 'operator.admin', denied: deniedProcedures('operator.admin') };
    const state = reduce(
      liveState({ columns, rows: 24 }),
      { type: 'access.known', access },
      { type: 'pane.selected', pane: 'nodes' },
    );
    const invoke = footerHints(state).find((h) => h.label === 'invoke');
    expect(invoke?.disabledReason).toBeUndefined();
    dashboard = await liveDashboard(state);
    expect(dashboard.frame()).not.toContain('[operator.');
  });

  it('lays itself out again when the window is resized, and says when it got too small', async () => {
    dashboard = await liveDashboard(
      reduce(liveState({ columns, rows: 24 }), { type: 'pane.selected', pane: 'nodes' }),
    );
    const other = columns === 120 ? 60 : 120;
    await dashboard.resize(other, 30);
    expect(dashboard.store.getState().terminal).toEqual({ columns: other, rows: 30 });
    expectFits(dashboard.frame(), other, 30);
    expect(dashboard.frame().includes('PLATFORM')).toBe(other === 120);
    await dashboard.resize(40, 10);
    expect(dashboard.frame().replace(/\s+/g, ' ')).toContain('needs at least 60×16');
    await dashboard.resize(columns, 24);
    expect(dashboard.frame()).toContain('[2 Nodes]');
  });

  it('quits with q and with Ctrl+C', async () => {
    dashboard = await liveDashboard(liveState({ columns, rows: 24 }));
    await dashboard.press('q', KEYS.ctrlC);
    expect(dashboard.intents).toEqual([{ kind: 'quit' }, { kind: 'quit' }]);
  });
});
