/**
 * Entry of an attacker in its own process, so the operator whose latency is
 * measured never shares an event loop (or a CPU's worth of frame building)
 * with the attack. Spec in `LOOPGATE_ATTACK_SPEC`; outcomes go back over IPC
 * when the time is up.
 */
import {
  guessPasswords,
  type Outcomes,
  pairingBigintFlood,
  pairingCrowd,
} from './hostile-peers.js';

export type AttackSpec =
  | {
      kind: 'pairing-bigint-flood';
      url: string;
      seconds: number;
      sockets: number;
      frameBytes: number;
      framesPerSocket: number;
    }
  | { kind: 'pairing-crowd'; url: string; seconds: number; sockets: number; addresses: string[] }
  | { kind: 'password-guessing'; url: string; seconds: number; lanes: number };

const spec = JSON.parse(process.env.LOOPGATE_ATTACK_SPEC ?? '{}') as AttackSpec;
const stop = new AbortController();
setTimeout(() => stop.abort(), spec.seconds * 1000);
let outcomes: Outcomes;
switch (spec.kind) {
  case 'pairing-bigint-flood':
    outcomes = await pairingBigintFlood({ ...spec, signal: stop.signal });
    break;
  case 'pairing-crowd':
    outcomes = await pairingCrowd({ ...spec, signal: stop.signal });
    break;
  case 'password-guessing':
    outcomes = await guessPasswords({ ...spec, signal: stop.signal });
    break;
}
process.send?.({ outcomes: [...outcomes] });
process.disconnect?.();
