import { Flags } from '@oclif/core';

/** How a command reaches a registry (sign, verify, policy check): one definition, one description each. */
export const registryAccessFlags = {
  'registry-user': Flags.string({ description: 'registry username (the password from --registry-password-env)' }),
  'registry-password-env': Flags.string({ description: 'environment variable with the registry password' }),
  'plain-http': Flags.boolean({ description: 'http:// for this registry (automatic for 127.0.0.1/localhost)' }),
};
