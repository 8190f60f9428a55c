import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { verifyImages, type AttestationSource, type AttestedStatement } from '../../src/supply-chain/admission.js';
import { VerificationCache } from '../../src/supply-chain/cache.js';
import { generateCosignKeyPair, readPrivateKey } from '../../src/supply-chain/keys.js';
import { parsePolicies } from '../../src/supply-chain/policy.js';
import { attestImage } from '../../src/supply-chain/attestation.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { COSIGN_VULN_PREDICATE } from '../../src/supply-chain/statement.js';

// Attestation policies over a real registry and real signatures; the attestations themselves come
// through the AttestationSource seam (a table of statements per image and verifier key).
let registry: StartedRegistry;
let client: RegistryClient;
let pubPem: string;
let image: string;
let privateKey: Awaited<ReturnType<typeof readPrivateKey>>;
const now = new Date('2026-12-06T12:00:00Z');

beforeAll(async () => {
  registry = await embeddedRegistry.start({ port: 0, storage: 'memory' });
  client = new RegistryClient({ baseUrl: registry.url });
  const pair = await generateCosignKeyPair('');
  pubPem = pair.publicPem;
  await pushSynthImage(client, 'team/app', 'v1', { layers: [256], seed: 'adm' });
  image = `${registry.host}/team/app:v1`;
  privateKey = await readPrivateKey(pair.privatePem, '');
  await signImage(client, image, { key: privateKey });
});
afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
});

const vuln = (severity: string, scanFinishedOn = '2026-12-06T10:00:00Z'): AttestedStatement => ({
  predicateType: COSIGN_VULN_PREDICATE,
  source: '.att',
  predicate: { scanner: { uri: 'pkg:github/aquasecurity/trivy@0.58.0', result: { Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-2023-0464', Severity: severity, PkgName: 'libcrypto3', FixedVersion: '3.0.8-r1' }] }] } }, metadata: { scanFinishedOn } },
});

function source(statements: AttestedStatement[]): AttestationSource & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    statements: (img, options, key) => {
      calls.push(`${img}|${key}|${options.key ? 'key' : 'keyless'}`);
      return Promise.resolve(statements);
    },
  };
}

const key = () => `\n          data: ${JSON.stringify(pubPem)}`;
const decide = async (yaml: string, statements: AttestedStatement[]) => {
  const attestations = source(statements);
  const [d] = await verifyImages([image], parsePolicies(yaml, 'inline'), { cache: new VerificationCache({ client }), ignoreTlog: true, attestations, now: () => now });
  return { d: d!, attestations };
};

describe('ClusterImagePolicy authorities with attestations', () => {
  const cip = () => `kind: ClusterImagePolicy\nmetadata: {name: attested}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n    - name: release\n      key:${key()}\n      attestations:\n        - name: scanned\n          predicateType: ${COSIGN_VULN_PREDICATE}\n`;

  it('passes when a statement of the type verifies under the authority\'s key', async () => {
    const { d, attestations } = await decide(cip(), [vuln('LOW')]);
    expect(d.decision).toBe('allow');
    expect(attestations.calls[0]).toMatch(/\|key:[0-9a-f]{16}\|.*\|key$/);
  });

  it('denies, naming the attestation, when none of that type verifies', async () => {
    const { d } = await decide(cip(), [{ ...vuln('LOW'), predicateType: 'https://slsa.dev/provenance/v1' }]);
    expect(d.decision).toBe('deny');
    expect(d.rules.find((r) => r.rule === 'ClusterImagePolicy/attested')!.reason).toContain(`scanned: no verified attestation with type ${COSIGN_VULN_PREDICATE}`);
  });

  it('refuses a cue or rego policy rather than passing it unevaluated', () => {
    expect(() => parsePolicies(cip() + '          policy: {type: cue, data: "predicate: {}"}\n', 'inline')).toThrow(/cue and rego/);
  });
});

describe('Kyverno attestations with conditions', () => {
  const kyverno = (action: string) => `kind: ClusterPolicy\nmetadata: {name: k}\nspec:\n  validationFailureAction: ${action}\n  rules:\n    - name: no-high\n      verifyImages:\n        - imageReferences: ["${registry.host}/team/*"]\n          attestors: [{entries: [{keys: {publicKeys: ${JSON.stringify(pubPem)}}}]}]\n          attestations:\n            - type: ${COSIGN_VULN_PREDICATE}\n              conditions:\n                - all:\n                    - key: "{{ scanner.result.Results[].Vulnerabilities[?Severity=='HIGH' || Severity=='CRITICAL'][] | length(@) }}"\n                      operator: Equals\n                      value: 0\n`;

  it('admits an image whose signature verifies and whose scan has no HIGH finding', async () => {
    expect((await decide(kyverno('Enforce'), [vuln('LOW')])).d.decision).toBe('allow');
  });

  it('denies under Enforce, and only warns under Audit, when a condition fails', async () => {
    const enforce = (await decide(kyverno('Enforce'), [vuln('HIGH')])).d;
    expect(enforce.decision).toBe('deny');
    expect(enforce.rules.find((r) => r.rule === 'ClusterPolicy/k/no-high')!.reason).toContain('condition failed');
    expect((await decide(kyverno('Audit'), [vuln('HIGH')])).d.decision).toBe('warn');
  });

  it('denies when the attestation is missing', async () => {
    const { d } = await decide(kyverno('Enforce'), []);
    expect(d.rules.find((r) => r.rule === 'ClusterPolicy/k/no-high')!.reason).toContain('no verified attestation');
  });
});

describe('a VulnerabilityGate reading cosign vuln attestations', () => {
  const gate = (extra = '') => `apiVersion: pullbench.dev/v1alpha1\nkind: VulnerabilityGate\nmetadata: {name: no-high}\nspec:\n  severity: HIGH\n  maxAge: 24h\n${extra}  authorities:\n    - name: scanner\n      key:${key()}\n`;

  it('denies an attested HIGH finding and names the CVE; admits it once allowlisted', async () => {
    const denied = (await decide(gate(), [vuln('HIGH')])).d;
    expect(denied.decision).toBe('deny');
    expect(denied.rules.find((r) => r.rule === 'VulnerabilityGate/no-high')!.reason).toContain('CVE-2023-0464 (HIGH, libcrypto3)');
    expect((await decide(gate('  allow: [CVE-2023-0464]\n'), [vuln('HIGH')])).d.decision).toBe('allow');
  });

  it('denies a scan older than maxAge, and an image with no scan at all', async () => {
    expect((await decide(gate(), [vuln('LOW', '2026-12-01T00:00:00Z')])).d.rules.at(-1)!.reason).toContain('older than 24.0h');
    expect((await decide(gate(), [])).d.rules.at(-1)!.reason).toContain('no vulnerability report or verified vuln attestation');
  });
});

describe('attestations read from the registry (attest\'s reader and verifier, through the cache)', () => {
  it('a cosign vuln attestation in the registry decides the gate and a ClusterImagePolicy, and is read once per verifier', async () => {
    await pushSynthImage(client, 'team/scanned', 'v1', { layers: [256], seed: 'adm-scanned' });
    const scanned = `${registry.host}/team/scanned:v1`;
    await attestImage(client, scanned, { key: privateKey, type: 'vuln', predicate: Buffer.from(JSON.stringify(vuln('HIGH').predicate)), format: 'legacy' });
    const yaml = `apiVersion: pullbench.dev/v1alpha1\nkind: VulnerabilityGate\nmetadata: {name: no-high}\nspec:\n  severity: HIGH\n  authorities:\n    - name: scanner\n      key:${key()}\n---\nkind: ClusterImagePolicy\nmetadata: {name: attested}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n    - name: release\n      key:${key()}\n      attestations: [{name: scanned, predicateType: vuln}]\n`;
    const cache = new VerificationCache({ client });
    const [d, again] = await verifyImages([scanned, scanned], parsePolicies(yaml, 'inline'), { cache, ignoreTlog: true, now: () => now });
    expect(d!.rules.find((r) => r.rule === 'ClusterImagePolicy/attested')!.result).toBe('pass');
    expect(d!.rules.find((r) => r.rule === 'VulnerabilityGate/no-high')).toMatchObject({ result: 'fail', reason: expect.stringContaining('CVE-2023-0464 (HIGH, libcrypto3)') });
    expect(again).toBe(d);
    const [other] = await verifyImages([scanned], parsePolicies(yaml.replace(/allow: \[\]/, ''), 'inline'), { cache, ignoreTlog: true, now: () => now });
    expect(other!.decision).toBe('deny');
    expect(cache.stats.signatureFetches).toBe(1); // the .att tag was read once for both policies and both runs
  });
});
