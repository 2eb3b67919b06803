import {
  arch,
  cpus,
  freemem,
  hostname,
  loadavg,
  platform,
  release,
  totalmem,
  type,
  uptime,
} from 'node:os';
import { defineCommand } from '../commands.js';

/** `system.info`: what an operator asks a machine first — os, cpu, memory, uptime. */
export function systemInfoCommand(nodeName: string) {
  return defineCommand({
    description: 'OS, CPU, memory and uptime of the node host',
    run: () => {
      const cpuList = cpus();
      return {
        node: nodeName,
        hostname: hostname(),
        os: { platform: platform(), type: type(), release: release(), arch: arch() },
        cpu: {
          count: cpuList.length,
          model: cpuList[0]?.model.trim() ?? 'unknown',
          loadavg: loadavg(),
        },
        memory: { totalBytes: totalmem(), freeBytes: freemem() },
        uptimeSec: Math.round(uptime()),
        runtime: { node: process.version, pid: process.pid },
      };
    },
  });
}
