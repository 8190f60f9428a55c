import { isPullbenchError } from '../../src/errors.js';

/** The PullbenchError code `fn` throws, 'other' for any other error, undefined when it does not throw. */
export function errorCodeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPullbenchError(e) ? e.code : 'other';
  }
  return undefined;
}
