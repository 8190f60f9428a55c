import { readFile } from 'node:fs/promises';
import { PullbenchError } from '../errors.js';
import { readPublicKey } from './keys.js';
import { mergeTrust, trustFromPem, trustFromTrustedRootJson, type Trust } from './trust.js';
import type { VerifyOptions } from './verify.js';

/** Verification settings as files and strings (command flags, policy authorities). */
export interface VerifySettings {
  key?: string | undefined;
  certificateIdentity?: string | undefined;
  certificateIdentityRegexp?: string | undefined;
  certificateOidcIssuer?: string | undefined;
  certificateOidcIssuerRegexp?: string | undefined;
  trustedRoot?: string | undefined;
  caRoots?: string | undefined;
  caIntermediates?: string | undefined;
  rekorKey?: string | undefined;
  ctlogKey?: string | undefined;
  insecureIgnoreTlog?: boolean | undefined;
  insecureIgnoreSct?: boolean | undefined;
  annotations?: string[] | undefined;
  repository?: string | undefined;
}

/** Reads a text file named on the command line; a missing file is INVALID_ARGUMENT, not a stack trace. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new PullbenchError('INVALID_ARGUMENT', `cannot read ${what} ${path}`, { cause });
  }
}

/** `k=v` pairs (`-a`) as a record; a pair without `=` is INVALID_ARGUMENT. */
export function parseAnnotations(pairs: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new PullbenchError('INVALID_ARGUMENT', `annotation ${JSON.stringify(pair)} is not key=value`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** The trust roots named in `s` (a trusted root and/or loose PEM files), merged; undefined when none is named. */
export async function loadTrust(s: Pick<VerifySettings, 'trustedRoot' | 'caRoots' | 'caIntermediates' | 'rekorKey' | 'ctlogKey'>): Promise<Trust | undefined> {
  const parts: Trust[] = [];
  if (s.trustedRoot) parts.push(trustFromTrustedRootJson(await readText(s.trustedRoot, 'trusted root')));
  if (s.caRoots || s.rekorKey || s.ctlogKey) {
    parts.push(
      trustFromPem({
        ...(s.caRoots ? { caRoots: await readText(s.caRoots, 'CA roots') } : {}),
        ...(s.caIntermediates ? { caIntermediates: await readText(s.caIntermediates, 'CA intermediates') } : {}),
        ...(s.rekorKey ? { rekorKeys: [await readText(s.rekorKey, 'Rekor public key')] } : {}),
        ...(s.ctlogKey ? { ctlogKeys: [await readText(s.ctlogKey, 'CT log public key')] } : {}),
      }),
    );
  }
  return parts.length > 0 ? mergeTrust(...parts) : undefined;
}

/** Reads the key and trust files named in `s` into VerifyOptions; checks cosign's flag rules. */
export async function loadVerifyOptions(s: VerifySettings): Promise<VerifyOptions> {
  const keyless = [s.certificateIdentity, s.certificateIdentityRegexp, s.certificateOidcIssuer, s.certificateOidcIssuerRegexp].some((v) => v !== undefined);
  if (s.key && keyless) throw new PullbenchError('INVALID_ARGUMENT', 'give either --key or certificate identities, not both');
  if (!s.key && !keyless) throw new PullbenchError('INVALID_ARGUMENT', 'give --key, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]');
  if (keyless && !s.caRoots && s.certificateOidcIssuer === undefined && s.certificateOidcIssuerRegexp === undefined) {
    throw new PullbenchError('INVALID_ARGUMENT', '--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for keyless verification');
  }
  const trust = await loadTrust(s);
  if (keyless && !trust) throw new PullbenchError('INVALID_ARGUMENT', 'keyless verification works offline only: give --trusted-root or --ca-roots');
  const opts: VerifyOptions = {
    ...(trust ? { trust } : {}),
    ignoreTlog: s.insecureIgnoreTlog === true,
    ignoreSct: s.insecureIgnoreSct === true,
    annotations: parseAnnotations(s.annotations),
    ...(s.repository === undefined ? {} : { repository: s.repository }),
  };
  if (s.key) opts.key = readPublicKey(await readText(s.key, 'key'));
  if (keyless) {
    opts.identity = {
      ...(s.certificateIdentity === undefined ? {} : { identity: s.certificateIdentity }),
      ...(s.certificateIdentityRegexp === undefined ? {} : { identityRegexp: s.certificateIdentityRegexp }),
      ...(s.certificateOidcIssuer === undefined ? {} : { issuer: s.certificateOidcIssuer }),
      ...(s.certificateOidcIssuerRegexp === undefined ? {} : { issuerRegexp: s.certificateOidcIssuerRegexp }),
    };
  }
  return opts;
}
