/**
 * Entry of a gateway running in its own process, so tests can measure its
 * memory without the test runner's own allocations, SIGKILL it, or SIGSTOP
 * it. Spec comes in `LOOPGATE_CHILD_SPEC`; the parent talks over IPC.
 */
import { createGateway } from '@loopgate/gateway';
import type { LoopgateConfigInput } from '@loopgate/protocol';

type Spec = { config: LoopgateConfigInput; stateDir: string };
export type ChildRequest = { type: 'memory'; id: number } | { type: 'stop'; id: number };
export type ChildReply =
  | { type: 'ready'; port: number; url: string; tokenPath: string | undefined }
  | { type: 'memory'; id: number; sample: GatewayMemorySample }
  | { type: 'stopped'; id: number }
  | { type: 'failed'; message: string };
export type GatewayMemorySample = {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  eventListeners: number;
  connections: number;
};

const spec = JSON.parse(process.env.LOOPGATE_CHILD_SPEC ?? '{}') as Spec;
const send = (reply: ChildReply) => process.send?.(reply);
const gc = (globalThis as { gc?: () => void }).gc;

try {
  const gateway = createGateway(spec.config, { stateDir: spec.stateDir });
  await gateway.start();
  process.on('message', async (raw) => {
    const request = raw as ChildRequest;
    if (request.type === 'memory') {
      // Two full collections so what is left is what the gateway still holds.
      gc?.();
      gc?.();
      const usage = process.memoryUsage();
      send({
        type: 'memory',
        id: request.id,
        sample: {
          rss: usage.rss,
          heapUsed: usage.heapUsed,
          external: usage.external,
          arrayBuffers: usage.arrayBuffers,
          eventListeners: gateway.services.events.listenerCount,
          connections: gateway.services.connections.counts().total,
        },
      });
    } else if (request.type === 'stop') {
      await gateway.stop('stopped by the test');
      send({ type: 'stopped', id: request.id });
      process.disconnect?.();
    }
  });
  send({ type: 'ready', port: gateway.port, url: gateway.url, tokenPath: gateway.tokenPath });
} catch (error) {
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
  process.disconnect?.();
}
