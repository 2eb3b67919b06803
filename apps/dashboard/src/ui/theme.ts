import type { LinkStatus, TunnelState } from '../gateway-port.js';
import type { Level } from '../state/index.js';

/**
 * Colour carries meaning here, but never alone: every coloured thing also
 * has a word or a symbol, so it reads the same with NO_COLOR.
 */
export const LEVEL_COLOR: Record<Level, string | undefined> = {
  info: undefined,
  ok: 'green',
  warn: 'yellow',
  error: 'red',
};

export const LEVEL_MARK: Record<Level, string> = {
  info: '·',
  ok: '✓',
  warn: '!',
  error: '✗',
};

export function linkLabel(link: LinkStatus): { text: string; level: Level } {
  switch (link.state) {
    case 'connecting':
      return { text: '◌ connecting', level: 'warn' };
    case 'open':
      return { text: '● open', level: 'ok' };
    case 'reconnecting':
      return { text: `↻ reconnecting ${link.attempt}`, level: 'warn' };
    case 'unauthorized':
      return { text: '✗ unauthorized', level: 'error' };
    case 'pin-mismatch':
      return { text: '✗ pin mismatch', level: 'error' };
    case 'closed':
      return { text: '■ closed', level: 'error' };
  }
}

export function tunnelLabel(tunnel: TunnelState | undefined): { text: string; level: Level } {
  if (!tunnel) return { text: 'none', level: 'info' };
  switch (tunnel.state) {
    case 'starting':
      return { text: 'starting', level: 'warn' };
    case 'up':
      return { text: 'up', level: 'ok' };
    case 'retrying':
      return { text: `retrying ${tunnel.attempt}`, level: 'warn' };
    case 'failed':
      return { text: 'failed', level: 'error' };
  }
}
