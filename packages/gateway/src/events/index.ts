export { DurableEventBudget } from './durable-budget.js';
export {
  type EmitOptions,
  EventBus,
  type EventBusOptions,
  type SequencedEvent,
  type SubscribeOptions,
} from './event-bus.js';
