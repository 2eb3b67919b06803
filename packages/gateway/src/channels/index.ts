export type { Channel, ChannelHost, InboundAccepted, InboundMessage } from './channel.js';
export { ChannelManager, type ChannelManagerOptions, replyText } from './channel-manager.js';
export { retryDelayMs } from './retry-delay.js';
export { TelegramApiError, TelegramBotApi } from './telegram/bot-api.js';
export { TelegramChannel } from './telegram/telegram-channel.js';
export {
  allowlistOf,
  planUpdates,
  splitMessage,
  TelegramOffsetFile,
} from './telegram/update-offset.js';
export { WebchatChannel } from './webchat-channel.js';
export { WebhookReplayGuard } from './webhook/replay-guard.js';
export { signWebhook, verifyWebhook } from './webhook/signature.js';
export { WebhookChannel, WebhookInbound } from './webhook/webhook-channel.js';
