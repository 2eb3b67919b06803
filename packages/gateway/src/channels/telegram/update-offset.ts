import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from '../../store/index.js';
import type { InboundMessage } from '../channel.js';
import type { TelegramUpdate } from './bot-api.js';

export type UpdatePlan = {
  /** What to persist (and ask `getUpdates` for next): one past the newest update seen. */
  nextOffset: number | undefined;
  /** Text messages from allowed chats, oldest first. */
  messages: InboundMessage[];
  /** Chats that wrote but are not on the allowlist (for the log; their text is not kept). */
  refusedChats: string[];
  /** Updates with nothing to act on (no text: photos, stickers, joins). */
  skipped: number;
};

/**
 * Decides what a batch of updates means. Updates at or below the stored
 * offset were already handled before a restart and are dropped, so an update
 * is never acted on twice even if Telegram sends it again.
 */
export function planUpdates(
  updates: readonly TelegramUpdate[],
  offset: number | undefined,
  allowed: ReadonlySet<string>,
): UpdatePlan {
  const plan: UpdatePlan = { nextOffset: offset, messages: [], refusedChats: [], skipped: 0 };
  const sorted = [...updates].sort((a, b) => a.update_id - b.update_id);
  for (const update of sorted) {
    // Below the offset: handled before (or earlier in this very batch).
    if (plan.nextOffset !== undefined && update.update_id < plan.nextOffset) continue;
    plan.nextOffset = update.update_id + 1;
    const message = update.message;
    if (!message || typeof message.text !== 'string' || message.text.trim() === '') {
      plan.skipped++;
      continue;
    }
    const chatId = String(message.chat.id);
    const username = message.chat.username ? `@${message.chat.username.toLowerCase()}` : undefined;
    if (!allowed.has(chatId) && !(username && allowed.has(username))) {
      if (!plan.refusedChats.includes(chatId)) plan.refusedChats.push(chatId);
      continue;
    }
    plan.messages.push({ peer: chatId, text: message.text, messageId: String(update.update_id) });
  }
  return plan;
}

/** Chat ids as strings, `@usernames` lower-cased. */
export function allowlistOf(ids: ReadonlyArray<string | number>): Set<string> {
  return new Set(
    ids.map((id) => (typeof id === 'string' && id.startsWith('@') ? id.toLowerCase() : String(id))),
  );
}

/** Telegram caps a message at 4096 characters; longer replies go out in parts, split at line breaks when possible. */
export function splitMessage(text: string, max = 4096): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

type OffsetFileContent = { botId: number; offset: number };

/**
 * The `getUpdates` offset, persisted atomically before the updates it
 * confirms are acted on: a crash right after the write loses nothing that
 * was acted on and repeats nothing. Tied to the bot id, so switching the
 * token to another bot starts fresh instead of skipping its updates.
 */
export class TelegramOffsetFile {
  constructor(readonly path: string) {}

  async load(botId: number): Promise<number | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as Partial<OffsetFileContent>;
      return parsed.botId === botId && Number.isSafeInteger(parsed.offset)
        ? parsed.offset
        : undefined;
    } catch {
      // Missing or unreadable offset file: start from Telegram's own pending updates, as on a first run.
      return undefined;
    }
  }

  async save(botId: number, offset: number): Promise<void> {
    await writeJsonAtomic(this.path, { botId, offset } satisfies OffsetFileContent);
  }
}
