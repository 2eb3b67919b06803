import * as z from 'zod';
import { defineCommand } from '../commands.js';

export type Notification = { title: string | undefined; message: string; level: 'info' | 'warn' };

const NotifyParams = z.object({
  message: z.string().min(1).max(2_000),
  title: z.string().max(200).optional(),
  level: z.enum(['info', 'warn']).default('info'),
});

/** `system.notify`: shows a message to whoever watches the node host (its log/terminal). */
export function systemNotifyCommand(show: (notification: Notification) => void) {
  return defineCommand({
    description: 'Show a message on the node host',
    params: NotifyParams,
    run: (params) => {
      show({ title: params.title, message: params.message, level: params.level });
      return { delivered: true, at: Date.now() };
    },
  });
}
