import { registerCleanup } from '../util/cleanup.js';

/**
 * Resolves never on its own: Ctrl-C runs every registered cleanup (which
 * closes the server) and exits 130, as for every long-running command.
 */
export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    registerCleanup('wait for interrupt', () => resolve(), { endsWithProcess: true });
  });
}
