import { Flags } from '@oclif/core';
import { credentialFlags } from './credential-flags.js';

/** How a command reaches a registry (sign, verify, policy check): one definition, one description each. */
export const registryAccessFlags = {
  ...credentialFlags('registry'),
  'plain-http': Flags.boolean({ description: 'http:// for this registry (automatic for 127.0.0.1/localhost)' }),
};
