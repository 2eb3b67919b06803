import { GatewayError } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  classifySshExit,
  describeTunnelState,
  nextTunnelState,
  type RetryPolicy,
  sshTunnelArgs,
  type TunnelState,
  tunnelFailure,
} from '../src/tunnel/index.js';

// Real OpenSSH 9.2 stderr, captured against the test sshd.
const CHANGED = [
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
  'The fingerprint for the ED25519 key sent by the remote host is',
  'SHA256:RgdfJ7m1Ql/pH6XoftpzxixNQQA2BpIw8W7ktY8SBpo.',
  'Add correct host key in /root/.ssh/known_hosts to get rid of this message.',
  'Host key for [127.0.0.1]:35757 has changed and you have requested strict checking.',
  'Host key verification failed.',
].join('\r\n');

const cases: [string, string, number | null, string, boolean][] = [
  ['host key unknown', 'Host key verification failed.\r\n', 255, 'host-key-unknown', true],
  ['host key changed', CHANGED, 255, 'host-key-changed', true],
  ['auth denied', 'root@127.0.0.1: Permission denied (publickey).\r\n', 255, 'auth-denied', true],
  [
    'forward failed',
    'bind [127.0.0.1]:18789: Address already in use\r\nchannel_setup_fwd_listener_tcpip: cannot listen to port: 18789\r\nCould not request local forwarding.\r\n',
    255,
    'forward-failed',
    true,
  ],
  [
    'refused',
    'ssh: connect to host 127.0.0.1 port 2222: Connection refused\r\n',
    255,
    'refused',
    false,
  ],
  [
    'unresolvable',
    'ssh: Could not resolve hostname gw.invalid: Name or service not known\r\n',
    255,
    'unreachable',
    false,
  ],
  [
    'no route',
    'ssh: connect to host 10.9.9.9 port 22: No route to host\r\n',
    255,
    'unreachable',
    false,
  ],
  [
    'connect timeout',
    'ssh: connect to host 10.9.9.9 port 22: Connection timed out\r\n',
    255,
    'unreachable',
    false,
  ],
  [
    'banner timeout',
    'Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port 2222 timed out\r\n',
    255,
    'unreachable',
    false,
  ],
  [
    'frozen server',
    'Timeout, server 127.0.0.1 not responding.\r\n',
    255,
    'server-unresponsive',
    false,
  ],
  [
    'server gone',
    'Connection to 127.0.0.1 closed by remote host.\r\n',
    255,
    'connection-lost',
    false,
  ],
  ['reset', 'Connection reset by 127.0.0.1 port 2222\r\n', 255, 'connection-lost', false],
  [
    'bad option',
    'command-line line 0: Bad configuration option: bogus\r\n',
    255,
    'ssh-config',
    true,
  ],
  ['no ssh binary', 'loopgate-ssh-tunnel: 1: ssh: not found\n', 127, 'ssh-missing', true],
  ['killed', '', 143, 'connection-lost', false],
  ['unknown', 'something odd in /home/alice/.ssh/config\r\n', 1, 'exited', false],
];

describe('classifySshExit', () => {
  it.each(cases)('%s → %s', (_name, stderr, code, kind, fatal) => {
    const failure = classifySshExit({
      code,
      signal: null,
      stderr,
      target: 'me@gw',
      localPort: 18789,
    });
    expect(failure.kind).toBe(kind);
    expect(failure.fatal).toBe(fatal);
    expect(failure.message).not.toMatch(/\/root|\/home/);
  });

  it('names the new host key of a changed host', () => {
    const failure = classifySshExit({
      code: 255,
      signal: null,
      stderr: CHANGED,
      target: 'me@gw',
      localPort: 1,
    });
    expect(failure.message).toContain('SHA256:RgdfJ7m1Ql/pH6XoftpzxixNQQA2BpIw8W7ktY8SBpo');
  });

  it('an unknown host key names the ssh port in the command to run, when one is configured', () => {
    const failure = classifySshExit({
      code: 255,
      signal: null,
      stderr: 'Host key verification failed.\r\n',
      target: 'me@gw',
      port: 2222,
      localPort: 1,
    });
    expect(failure.message).toContain('the host key of me@gw (port 2222) is not in known_hosts');
    expect(failure.message).toContain('connect once with "ssh -p 2222 me@gw"');
  });

  it('ignores failures of connections made through the forward', () => {
    const stderr =
      'channel 2: open failed: connect failed: Connection refused\r\nConnection to 1.2.3.4 closed by remote host.\r\n';
    expect(
      classifySshExit({ code: 255, signal: null, stderr, target: 'gw', localPort: 1 }).kind,
    ).toBe('connection-lost');
  });

  it('a signal is a lost connection', () => {
    expect(
      classifySshExit({ code: null, signal: 'SIGKILL', stderr: '', target: 'gw', localPort: 1 })
        .kind,
    ).toBe('connection-lost');
  });
});

describe('sshTunnelArgs', () => {
  const base = {
    target: 'alice@gw.example.com',
    localPort: 18789,
    remotePort: 18789,
    serverAliveIntervalSec: 10,
    serverAliveCountMax: 3,
    connectTimeoutSec: 10,
  };

  it('forwards 127.0.0.1 to 127.0.0.1 with the supervision options and never touches host key checking', () => {
    const args = sshTunnelArgs({ ...base, sshPort: 2222, identityFile: '/k', configFile: '/cfg' });
    expect(args.slice(0, 2)).toEqual(['-F', '/cfg']);
    expect(args).toContain('-N');
    expect(args[args.indexOf('-L') + 1]).toBe('127.0.0.1:18789:127.0.0.1:18789');
    for (const o of [
      'ExitOnForwardFailure=yes',
      'BatchMode=yes',
      'ServerAliveInterval=10',
      'ServerAliveCountMax=3',
      'ConnectTimeout=10',
    ]) {
      expect(args).toContain(o);
    }
    expect(args.join(' ')).not.toMatch(/StrictHostKeyChecking/i);
    expect(args.slice(-3)).toEqual(['-p', '2222', 'alice@gw.example.com']);
    expect(args).toContain('/k');
  });

  it('passes extra options but refuses overriding supervision or disabling host key checks', () => {
    expect(sshTunnelArgs({ ...base, sshOptions: { UserKnownHostsFile: '/kh' } })).toContain(
      'UserKnownHostsFile=/kh',
    );
    const refused: Record<string, string>[] = [
      { StrictHostKeyChecking: 'no' },
      { stricthostkeychecking: 'off' },
      { BatchMode: 'no' },
      { ExitOnForwardFailure: 'no' },
      { 'Proxy Command': 'x' },
      { ProxyCommand: 'a\nb' },
    ];
    for (const sshOptions of refused) {
      expect(() => sshTunnelArgs({ ...base, sshOptions })).toThrow(GatewayError);
    }
  });

  it('refuses targets that ssh would read as options', () => {
    for (const target of ['-oProxyCommand=touch /tmp/x', '', 'a b']) {
      expect(() => sshTunnelArgs({ ...base, target })).toThrow(/user@host/);
    }
  });
});

describe('nextTunnelState', () => {
  const policy: RetryPolicy = {
    maxRetries: 3,
    backoff: { baseMs: 100, capMs: 1_000 },
    random: () => 0.5,
  };
  const transient = tunnelFailure('refused', 'refused');
  const fatal = tunnelFailure('auth-denied', 'denied');
  const step = (state: TunnelState, ...events: Parameters<typeof nextTunnelState>[1][]) =>
    events.reduce((s, e) => nextTunnelState(s, e, policy), state);
  const starting: TunnelState = { status: 'starting', attempt: 0 };

  it('starting → up when the forward answers', () => {
    expect(step(starting, { type: 'ready', localPort: 5, reused: false })).toEqual({
      status: 'up',
      localPort: 5,
      reused: false,
    });
  });

  it('retries transient failures with growing, jittered, capped delays, then gives up', () => {
    let state = step(starting, { type: 'ended', failure: transient });
    expect(state).toEqual({ status: 'retrying', attempt: 1, reason: transient, delayMs: 50 });
    state = step(state, { type: 'retry' }, { type: 'ended', failure: transient });
    expect(state).toMatchObject({ status: 'retrying', attempt: 2, delayMs: 100 });
    state = step(state, { type: 'retry' }, { type: 'ended', failure: transient });
    expect(state).toMatchObject({ status: 'retrying', attempt: 3, delayMs: 200 });
    state = step(state, { type: 'retry' }, { type: 'ended', failure: transient });
    expect(state).toMatchObject({
      status: 'failed',
      reason: { kind: 'refused', message: expect.stringContaining('gave up after 3') },
    });
  });

  it('never retries a fatal failure', () => {
    expect(step(starting, { type: 'ended', failure: fatal })).toEqual({
      status: 'failed',
      reason: fatal,
    });
    const up = step(starting, { type: 'ready', localPort: 5, reused: false });
    expect(step(up, { type: 'ended', failure: fatal })).toEqual({
      status: 'failed',
      reason: fatal,
    });
  });

  it('a drop after being up starts a fresh series of retries', () => {
    const state = step(
      starting,
      { type: 'ended', failure: transient },
      { type: 'retry' },
      { type: 'ended', failure: transient },
      { type: 'retry' },
      { type: 'ready', localPort: 5, reused: false },
      { type: 'ended', failure: transient },
    );
    expect(state).toMatchObject({ status: 'retrying', attempt: 1 });
  });

  it('close wins from anywhere and failed/closed are final', () => {
    expect(step(starting, { type: 'close' })).toEqual({ status: 'closed' });
    const failed = step(starting, { type: 'ended', failure: fatal });
    expect(
      step(
        failed,
        { type: 'close' },
        { type: 'retry' },
        { type: 'ready', localPort: 1, reused: false },
      ),
    ).toBe(failed);
    expect(step({ status: 'closed' }, { type: 'ready', localPort: 1, reused: false })).toEqual({
      status: 'closed',
    });
  });

  it('backoff delays stay within the cap with any jitter', () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      const s = nextTunnelState(
        { status: 'starting', attempt },
        { type: 'ended', failure: transient },
        {
          ...policy,
          maxRetries: 100,
          random: () => 0.999,
        },
      );
      expect(s.status === 'retrying' && s.delayMs).toBeLessThan(1_000);
    }
  });

  it('describes states for an operator', () => {
    expect(describeTunnelState({ status: 'up', localPort: 18789, reused: false })).toBe(
      'up on 127.0.0.1:18789',
    );
    expect(
      describeTunnelState({ status: 'retrying', attempt: 2, reason: transient, delayMs: 1500 }),
    ).toBe('retrying (2) in 1.5 s: refused');
  });
});
