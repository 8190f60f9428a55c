import { Flags } from '@oclif/core';
import type { VerifySettings } from '../supply-chain/options.js';
import { registryAccessFlags } from './registry-flags.js';

/** The verification flags `verify` and `verify-attestation` share (with registry access), named as cosign names them. */
export const verifyFlags = {
  key: Flags.string({ description: 'PEM public key (ECDSA P-256/P-384, RSA, Ed25519)' }),
  'certificate-identity': Flags.string({ description: 'exact certificate SAN (email or URI)' }),
  'certificate-identity-regexp': Flags.string({ description: 'anchored regexp (RE2 subset) for the SAN' }),
  'certificate-oidc-issuer': Flags.string({ description: 'exact OIDC issuer (Fulcio extension)' }),
  'certificate-oidc-issuer-regexp': Flags.string({ description: 'anchored regexp for the OIDC issuer' }),
  'trusted-root': Flags.string({ description: 'sigstore trusted_root.json (Fulcio, Rekor, CT logs)' }),
  'ca-roots': Flags.string({ description: 'PEM CA roots for a private PKI' }),
  'ca-intermediates': Flags.string({ description: 'PEM CA intermediates' }),
  'rekor-key': Flags.string({ description: 'Rekor public key (PEM) for signed entry timestamps' }),
  'ctlog-key': Flags.string({ description: 'CT log public key (PEM) for SCTs' }),
  'insecure-ignore-tlog': Flags.boolean({ description: 'accept signatures without a verified Rekor entry' }),
  'insecure-ignore-sct': Flags.boolean({ description: 'do not require SCTs' }),
  ...registryAccessFlags,
};

type VerifyFlagValues = { [K in keyof typeof verifyFlags]?: string | boolean | undefined };

/** The parsed flags as the library's VerifySettings. */
export function verifySettingsOf(flags: VerifyFlagValues): VerifySettings {
  const s = (k: keyof typeof verifyFlags): string | undefined => flags[k] as string | undefined;
  return {
    key: s('key'),
    certificateIdentity: s('certificate-identity'),
    certificateIdentityRegexp: s('certificate-identity-regexp'),
    certificateOidcIssuer: s('certificate-oidc-issuer'),
    certificateOidcIssuerRegexp: s('certificate-oidc-issuer-regexp'),
    trustedRoot: s('trusted-root'),
    caRoots: s('ca-roots'),
    caIntermediates: s('ca-intermediates'),
    rekorKey: s('rekor-key'),
    ctlogKey: s('ctlog-key'),
    insecureIgnoreTlog: flags['insecure-ignore-tlog'] === true,
    insecureIgnoreSct: flags['insecure-ignore-sct'] === true,
  };
}
