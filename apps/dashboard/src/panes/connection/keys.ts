import { type KeyBinding, open } from '../../keys/binding-kit.js';
import { confirm, dispatch, perform } from '../../keys/effects.js';
import { connectionFieldText, type DashboardState } from '../../state/index.js';

/** The certificate the server presents: from the probe, or from the mismatch report. */
function presentedFingerprint(state: DashboardState): string | undefined {
  const { link, transport } = state.connection;
  return transport.tls.presented ?? (link.state === 'pin-mismatch' ? link.presented : undefined);
}

export const CONNECTION_BINDINGS: readonly KeyBinding[] = [
  {
    id: 'connection.up',
    keys: ['up', 'k'],
    description: 'previous setting',
    scope: 'connection',
    hint: 'select',
    run: () => [dispatch({ type: 'connection.field-stepped', step: -1 })],
  },
  {
    id: 'connection.down',
    keys: ['down', 'j'],
    description: 'next setting',
    scope: 'connection',
    run: () => [dispatch({ type: 'connection.field-stepped', step: 1 })],
  },
  {
    id: 'connection.edit',
    keys: ['enter', 'e'],
    description: 'edit the selected setting (mode toggles)',
    scope: 'connection',
    hint: 'edit',
    run: (state) => {
      const field = state.connection.field;
      if (field === 'mode') return [dispatch({ type: 'connection.mode-toggled' })];
      return [
        open({
          kind: 'connection-field',
          field,
          text: connectionFieldText(state.connection.draft, field),
        }),
      ];
    },
  },
  {
    id: 'connection.mode',
    keys: ['m'],
    description: 'switch mode between local and remote',
    scope: 'connection',
    run: () => [dispatch({ type: 'connection.mode-toggled' })],
  },
  {
    id: 'connection.apply',
    keys: ['c'],
    description: 'reconnect with the edited settings (without saving)',
    scope: 'connection',
    hint: 'connect',
    run: () => [perform({ kind: 'apply-connection' })],
  },
  {
    id: 'connection.save',
    keys: ['w'],
    description: 'write gateway.mode and gateway.remote.* to the config file (asks first)',
    scope: 'connection',
    hint: 'save',
    mutating: true,
    run: () => [confirm({ kind: 'save-connection' })],
  },
  {
    id: 'connection.restart-tunnel',
    keys: ['t'],
    description: 'restart the SSH tunnel',
    scope: 'connection',
    hint: 'tunnel',
    enabled: (state) =>
      state.connection.transport.via === 'tunnel' ? true : 'no SSH tunnel in use',
    run: () => [perform({ kind: 'restart-tunnel' })],
  },
  {
    id: 'connection.pin',
    keys: ['p'],
    description: 'pin the certificate the server presents (asks first; verify it out of band)',
    scope: 'connection',
    hint: 'pin',
    mutating: true,
    enabled: (state) => {
      const { tls } = state.connection.transport;
      if (!tls.enabled) return 'not a wss:// target';
      const presented = presentedFingerprint(state);
      if (!presented) return 'no certificate seen yet';
      if (tls.pinned.includes(presented) && state.connection.link.state !== 'pin-mismatch')
        return 'already pinned';
      return true;
    },
    run: (state) => [
      confirm({ kind: 'pin-fingerprint', fingerprint: presentedFingerprint(state)! }),
    ],
  },
];
