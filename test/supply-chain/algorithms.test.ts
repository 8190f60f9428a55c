import { sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/media-types.js';
import { generateCosignKeyPair, hashesForKey, readPrivateKey, readPublicKey, type KeyAlgorithm } from '../../src/supply-chain/keys.js';
import { simpleSigningPayload } from '../../src/supply-chain/sign.js';
import { Annotation, compileIdentityRegexp, verifyLegacySignature } from '../../src/supply-chain/verify.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;

describe('keyed verification for every key type cosign supports', () => {
  it.each(['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] as KeyAlgorithm[])('%s: our signature verifies, another key does not', async (algorithm) => {
    const pair = await generateCosignKeyPair('', { algorithm, scrypt: { N: 32768, r: 8, p: 1 } });
    const key = await readPrivateKey(pair.privatePem, '');
    const payload = simpleSigningPayload('registry.example/app', DIGEST);
    const layer = { mediaType: MediaType.CosignSimpleSigning, payload, annotations: { [Annotation.signature]: sign(hashesForKey(key)[0]!, payload, key).toString('base64') } };
    expect(verifyLegacySignature(layer, DIGEST, { key: readPublicKey(pair.publicPem), ignoreTlog: true }).checks.claims).toBe(true);
    const other = await generateCosignKeyPair('', { algorithm, scrypt: { N: 32768, r: 8, p: 1 } });
    expect(() => verifyLegacySignature(layer, DIGEST, { key: readPublicKey(other.publicPem), ignoreTlog: true })).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });

  it('accepts a P-384 signature made with SHA-384 as well as SHA-256', async () => {
    const pair = await generateCosignKeyPair('', { algorithm: 'ecdsa-p384', scrypt: { N: 32768, r: 8, p: 1 } });
    const key = await readPrivateKey(pair.privatePem, '');
    const payload = simpleSigningPayload('registry.example/app', DIGEST);
    const layer = { mediaType: MediaType.CosignSimpleSigning, payload, annotations: { [Annotation.signature]: sign('sha384', payload, key).toString('base64') } };
    expect(verifyLegacySignature(layer, DIGEST, { key: readPublicKey(pair.publicPem), ignoreTlog: true }).kind).toBe('legacy');
  });
});

describe('identity regexps', () => {
  it('matches anywhere as Go\'s MatchString does, anchors only with ^...$, maps Go inline flags, and refuses what RE2 cannot do', () => {
    expect(compileIdentityRegexp('a.c').test('xabcx')).toBe(true);
    expect(compileIdentityRegexp('^a.c$').test('xabcx')).toBe(false);
    expect(compileIdentityRegexp('^a.c$').test('abc')).toBe(true);
    expect(compileIdentityRegexp('(?i)CI@EXAMPLE\\.COM').test('ci@example.com')).toBe(true);
    expect(compileIdentityRegexp('^(?:a|b)$').test('ab')).toBe(false);
    expect(() => compileIdentityRegexp('(?=x)x')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => compileIdentityRegexp('(a)\\1')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
