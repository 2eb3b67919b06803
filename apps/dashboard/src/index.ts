/**
 * The Loopgate operator dashboard. This entry point loads no Ink code: Ink
 * reads the environment (colour, CI) when it loads, and `runDashboard`
 * settles the environment first, then imports the UI.
 */

export type { GatewayPort } from './gateway-port.js';
export { type DashboardOptions, runDashboard } from './run-dashboard.js';
