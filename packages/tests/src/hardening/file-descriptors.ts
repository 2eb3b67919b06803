import { readdirSync } from 'node:fs';

/**
 * Open file descriptors of a process (Linux `/proc`): sockets included, so a
 * socket the gateway forgot to destroy shows up here even when the peer
 * never notices.
 */
export function openFileDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
