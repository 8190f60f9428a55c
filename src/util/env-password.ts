import { PullbenchError } from '../errors.js';

/**
 * A password from the environment variable `variable`: the one way commands read
 * a secret (a flag value would show in `ps` and shell history). `flag` names what
 * chose the variable, for the error when it is not set; the value never appears.
 */
export function passwordFromEnv(variable: string, flag: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[variable];
  if (value === undefined) {
    throw new PullbenchError('INVALID_ARGUMENT', `${flag}: the environment variable ${variable} is not set (it holds the password; passwords are never given as flag values)`);
  }
  return value;
}
