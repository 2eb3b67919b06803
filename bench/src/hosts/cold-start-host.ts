import { createGateway } from '@loopgate/gateway';

/**
 * What the cold-start shape bundles into one file: exactly `loopgate gateway
 * run` minus the CLI around it (flag parsing, config file lookup, the other
 * commands' imports). Port and state dir come from the environment, as the
 * CLI would take them.
 */
const gateway = createGateway(
  {
    gateway: {
      port: Number(process.env.LOOPGATE_GATEWAY_PORT),
      auth: { token: process.env.LOOPGATE_GATEWAY_TOKEN },
    },
    logging: { level: 'silent' },
  },
  { stateDir: process.env.LOOPGATE_STATE_DIR! },
);
await gateway.start();
process.once('SIGTERM', () => {
  void gateway.stop('cold-start measurement done').then(() => process.exit(0));
});
