import { Flags } from '@oclif/core';
import type { BasicCredentials } from '../oci/credentials.js';
import { PullbenchError } from '../errors.js';
import { passwordFromEnv } from '../util/env-password.js';

/**
 * The credential flags, named one way in every command (docs/cli.md, "Credentials"):
 * `--<party>-user NAME` and `--<party>-password-env VAR`, the password read only
 * from that variable (default `PULLBENCH_<PARTY>_PASSWORD`).
 */
type Party = 'registry' | 'upstream';

const DEFAULT_VARIABLE: Record<Party, string> = {
  registry: 'PULLBENCH_REGISTRY_PASSWORD',
  upstream: 'PULLBENCH_UPSTREAM_PASSWORD',
};

/** The two flags for `party`; `legacy` names the flags a command used before, kept as hidden deprecated aliases. */
export function credentialFlags<P extends Party>(party: P, legacy: { user?: string; passwordEnv?: string } = {}) {
  const user = Flags.string({
    summary: `${party === 'registry' ? 'Registry' : 'Upstream registry'} username (Basic, or for the bearer token request)`,
    ...(legacy.user ? { aliases: [legacy.user], deprecateAliases: true } : {}),
  });
  const passwordEnv = Flags.string({
    summary: `Environment variable holding the password (default ${DEFAULT_VARIABLE[party]})`,
    ...(legacy.passwordEnv ? { aliases: [legacy.passwordEnv], deprecateAliases: true } : {}),
  });
  return { [`${party}-user`]: user, [`${party}-password-env`]: passwordEnv } as Record<`${P}-user` | `${P}-password-env`, typeof user>;
}

/** Credentials from the flags of credentialFlags(party); undefined without a user. */
export function credentialsFrom(
  party: Party,
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): BasicCredentials | undefined {
  const user = flags[`${party}-user`] as string | undefined;
  const variable = flags[`${party}-password-env`] as string | undefined;
  if (!user) {
    if (variable !== undefined) throw new PullbenchError('INVALID_ARGUMENT', `--${party}-password-env needs --${party}-user`);
    return undefined;
  }
  return { username: user, password: passwordFromEnv(variable ?? DEFAULT_VARIABLE[party], `--${party}-user ${user}`, env) };
}
