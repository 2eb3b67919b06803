export { EventLoopDelay, gatewayStatus, type StartedParts } from './gateway-status.js';
