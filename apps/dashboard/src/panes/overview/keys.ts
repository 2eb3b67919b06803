import { type KeyBinding, needs } from '../../keys/binding-kit.js';
import { perform } from '../../keys/effects.js';

export const OVERVIEW_BINDINGS: readonly KeyBinding[] = [
  {
    id: 'overview.deep',
    keys: ['d'],
    description: 'deep status: probe channels and nodes live',
    scope: 'overview',
    hint: 'deep probe',
    enabled: needs('status', 'status'),
    run: () => [perform({ kind: 'refresh', deep: true })],
  },
];
