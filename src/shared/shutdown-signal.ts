// Waiting for the signal that starts a graceful shutdown, for the long-running commands (gateway,
// proxy, controller).

/**
 * Resolves with the first of SIGINT/SIGTERM, which starts a graceful shutdown. A second one while it
 * runs ends the process at once, but through process.exit, so 'exit' hooks still run: e.g. the HAProxy
 * engines stop their HAProxy there rather than leaving it behind holding the ports.
 */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    const again = (signal: NodeJS.Signals): void => {
      process.stderr.write(`${signal} again during shutdown: stopping now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    const first = (signal: NodeJS.Signals): void => {
      for (const s of signals) {
        process.off(s, first);
        process.once(s, again);
      }
      resolve(signal);
    };
    for (const s of signals) process.on(s, first);
  });
}
