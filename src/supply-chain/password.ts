import { createInterface } from 'node:readline';
import { PullbenchError } from '../errors.js';
import { passwordFromEnv } from '../util/env-password.js';

export interface PasswordSource {
  /** The password given on the command line (visible in `ps`; prefer the env). */
  password?: string | undefined;
  /** Name of an environment variable that holds the password. */
  passwordEnv?: string | undefined;
  /** Ask on the terminal when nothing else gives a password. */
  prompt?: boolean | undefined;
  /** Ask twice and require both to match (key generation). */
  confirm?: boolean | undefined;
}

/**
 * The key password, from (in order) the flag, the named variable, cosign's
 * COSIGN_PASSWORD, or a terminal prompt with echo off. Never logged.
 */
export async function resolvePassword(src: PasswordSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (src.password !== undefined) return src.password;
  if (src.passwordEnv !== undefined) return passwordFromEnv(src.passwordEnv, '--key-password-env', env);
  if (env.COSIGN_PASSWORD !== undefined) return env.COSIGN_PASSWORD;
  if (src.prompt && process.stdin.isTTY) {
    const first = await promptHidden('Enter password for private key: ');
    if (src.confirm && (await promptHidden('Enter password for private key again: ')) !== first) {
      throw new PullbenchError('INVALID_ARGUMENT', 'passwords do not match');
    }
    return first;
  }
  throw new PullbenchError('INVALID_ARGUMENT', 'no password: use --key-password-env VAR, set COSIGN_PASSWORD (may be empty), or run on a terminal');
}

async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Mute echo: readline writes typed characters through _writeToOutput.
  const muted = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write(question);
  muted._writeToOutput = () => undefined;
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
