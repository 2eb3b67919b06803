export {
  type ConnectTarget,
  type ControllerOptions,
  DashboardController,
  errorViewOf,
  type PortFactory,
} from './dashboard-controller.js';
