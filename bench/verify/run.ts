/**
 * bench/verify: cold verification of one signed image from the embedded
 * registry (resolve, referrers, .sig manifest, payload blob, ECDSA check; a new
 * client and cache each time), and cached policy decisions per second; the
 * same for attestations: cold `attest` (statement, DSSE signature, bundle
 * referrer push), cold `verify-attestation` (referrers, bundle, .att layer,
 * two DSSE checks) and cached attestation decisions per second; and whole
 * admission decisions over attestations (Gatekeeper rule, Kyverno JMESPath
 * condition, vulnerability gate), cold and cached.
 * Run: npx tsx bench/verify/run.ts [--iterations 200] [--decisions 100000] [--json]
 */
import { parseArgs } from 'node:util';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { VerificationCache } from '../../src/supply-chain/cache.js';
import { verifyImage } from '../../src/supply-chain/image.js';
import { generateCosignKeyPair, readPrivateKey, readPublicKey } from '../../src/supply-chain/keys.js';
import { verifyImages } from '../../src/supply-chain/admission.js';
import { parsePolicies } from '../../src/supply-chain/policy.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { attestImage, verifyAttestations } from '../../src/supply-chain/attestation.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200' }, decisions: { type: 'string', default: '100000' }, json: { type: 'boolean', default: false } } });
const iterations = Number(values.iterations);
const decisions = Number(values.decisions);

await using registry = await embeddedRegistry.start({ port: 0, storage: 'memory' });
const client = new RegistryClient({ baseUrl: registry.url });
const pair = await generateCosignKeyPair('');
await pushSynthImage(client, 'bench/app', 'v1', { layers: [4096], seed: 'bench' });
const image = `${registry.host}/bench/app:v1`;
const signed = await signImage(client, image, { key: await readPrivateKey(pair.privatePem, '') });
const key = readPublicKey(pair.publicPem);

// warm-up: JIT and the module graph, not the measured caches
for (let i = 0; i < 20; i++) await verifyImage(image, { key, ignoreTlog: true, client: new RegistryClient({ baseUrl: registry.url }) });

const cold = new Array<number>(iterations);
// CPU time of this process (client and the in-process registry): what a verification costs without contention.
const cpu0 = process.cpuUsage();
for (let i = 0; i < iterations; i++) {
  const t0 = performance.now();
  const r = await verifyImage(image, { key, ignoreTlog: true, client: new RegistryClient({ baseUrl: registry.url }) });
  cold[i] = performance.now() - t0;
  if (r.decision !== 'verified') throw new Error(`unexpected decision ${r.decision}`);
}
const cpu = process.cpuUsage(cpu0);
const cpuMsPerVerify = (cpu.user + cpu.system) / 1000 / iterations;
cold.sort((a, b) => a - b);

const policy = parsePolicies(
  `kind: ClusterImagePolicy\nmetadata: {name: bench}\nspec:\n  images: [{glob: "${registry.host}/bench/**"}]\n  authorities:\n    - name: k\n      key:\n        data: ${JSON.stringify(pair.publicPem)}\n`,
  'bench',
);
const cache = new VerificationCache({ client });
const opts = { cache, ignoreTlog: true };
const pinned = `${registry.host}/bench/app@${signed.digest}`;
await verifyImages([pinned], policy, opts);
const t0 = performance.now();
for (let i = 0; i < decisions; i++) {
  const [d] = await verifyImages([pinned], policy, opts);
  if (d!.decision !== 'allow') throw new Error('unexpected deny');
}
const perSecond = decisions / ((performance.now() - t0) / 1000);

// Attestations: what `pullbench attest` and `pullbench verify-attestation` call, each with a new client.
const priv = await readPrivateKey(pair.privatePem, '');
const predicate = Buffer.from(JSON.stringify({ scanner: { uri: 'pkg:github/aquasecurity/trivy', version: '0.50.0', result: { Results: [] } } }));
await pushSynthImage(client, 'bench/attested', 'v1', { layers: [4096], seed: 'bench-att' });
await pushSynthImage(client, 'bench/attest-target', 'v1', { layers: [4096], seed: 'bench-att-target' });
const attested = `${registry.host}/bench/attested:v1`;
await attestImage(client, attested, { key: priv, type: 'vuln', predicate, format: 'both' });
const attestOpts = { key, ignoreTlog: true, type: 'vuln' };
for (let i = 0; i < 20; i++) await verifyAttestations(attested, { ...attestOpts, client: new RegistryClient({ baseUrl: registry.url }) });
const attestCold = new Array<number>(iterations);
const verifyAttCold = new Array<number>(iterations);
for (let i = 0; i < iterations; i++) {
  let t = performance.now();
  await attestImage(new RegistryClient({ baseUrl: registry.url }), `${registry.host}/bench/attest-target:v1`, { key: priv, type: 'vuln', predicate });
  attestCold[i] = performance.now() - t;
  t = performance.now();
  const v = await verifyAttestations(attested, { ...attestOpts, client: new RegistryClient({ baseUrl: registry.url }) });
  verifyAttCold[i] = performance.now() - t;
  if (v.decision !== 'verified' || v.attestations.length !== 2) throw new Error(`unexpected attestation decision ${v.decision}`);
}
attestCold.sort((a, b) => a - b);
verifyAttCold.sort((a, b) => a - b);
const attCache = new VerificationCache({ client });
await attCache.attestations(attested, 'bench', 'none', attestOpts);
const ta = performance.now();
for (let i = 0; i < decisions; i++) {
  const d = await attCache.attestations(attested, 'bench', 'none', attestOpts);
  if (d.decision !== 'verified') throw new Error('unexpected attestation deny');
}
const attPerSecond = decisions / ((performance.now() - ta) / 1000);

// Admission over attestations, through verifyImages (what policy check and the verify stage call):
// a Gatekeeper rule, a Kyverno attestation with a JMESPath condition and a vulnerability gate over the vuln attestation.
const pem = JSON.stringify(pair.publicPem);
const admission = parsePolicies(
  `kind: K8sAllowedRepos\nmetadata: {name: repos}\nspec: {parameters: {repos: ["${registry.host}/"]}}\n---\n` +
    `kind: ClusterPolicy\nmetadata: {name: k}\nspec:\n  validationFailureAction: Enforce\n  rules:\n    - name: scanned\n      verifyImages:\n        - imageReferences: ["${registry.host}/bench/*"]\n          attestations:\n            - type: https://cosign.sigstore.dev/attestation/vuln/v1\n              attestors: [{entries: [{keys: {publicKeys: ${pem}}}]}]\n              conditions: [{all: [{key: "{{ length(scanner.result.Results || \`[]\`) }}", operator: GreaterThanOrEquals, value: 0}]}]\n---\n` +
    `apiVersion: pullbench.dev/v1alpha1\nkind: VulnerabilityGate\nmetadata: {name: gate}\nspec:\n  severity: CRITICAL\n  authorities: [{name: k, key: {data: ${pem}}}]\n`,
  'bench-admission',
);
const admissionCold = new Array<number>(iterations);
for (let i = 0; i < iterations; i++) {
  const t = performance.now();
  const [d] = await verifyImages([attested], admission, { cache: new VerificationCache({ client: new RegistryClient({ baseUrl: registry.url }) }), ignoreTlog: true });
  admissionCold[i] = performance.now() - t;
  if (d!.decision !== 'allow') throw new Error(`unexpected admission decision ${d!.decision}: ${JSON.stringify(d!.rules)}`);
}
admissionCold.sort((a, b) => a - b);
const admissionCache = new VerificationCache({ client });
await verifyImages([attested], admission, { cache: admissionCache, ignoreTlog: true });
const tadm = performance.now();
for (let i = 0; i < decisions; i++) {
  const [d] = await verifyImages([attested], admission, { cache: admissionCache, ignoreTlog: true });
  if (d!.decision !== 'allow') throw new Error('unexpected admission deny');
}
const admissionPerSecond = decisions / ((performance.now() - tadm) / 1000);

const result = {
  coldVerifyMs: { p50: percentile(cold, 50), p95: percentile(cold, 95), max: cold[cold.length - 1]!, iterations, cpuMsPerVerify },
  cachedDecisionsPerSecond: Math.round(perSecond),
  attestColdMs: { p50: percentile(attestCold, 50), p95: percentile(attestCold, 95), iterations },
  verifyAttestationColdMs: { p50: percentile(verifyAttCold, 50), p95: percentile(verifyAttCold, 95), iterations },
  cachedAttestationDecisionsPerSecond: Math.round(attPerSecond),
  admissionOverAttestationsColdMs: { p50: percentile(admissionCold, 50), p95: percentile(admissionCold, 95), iterations },
  cachedAdmissionDecisionsPerSecond: Math.round(admissionPerSecond),
  cache: cache.stats,
  targets: { coldP50Ms: 20, cachedPerSecond: 10_000 },
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`cold verification p50 ${result.coldVerifyMs.p50.toFixed(2)} ms, p95 ${result.coldVerifyMs.p95.toFixed(2)} ms (${iterations} runs; target p50 < 20 ms); CPU ${cpuMsPerVerify.toFixed(2)} ms per verification`);
  console.log(`cached policy decisions ${result.cachedDecisionsPerSecond}/s (${decisions} decisions; target > 10,000/s)`);
  console.log(`cold attest p50 ${result.attestColdMs.p50.toFixed(2)} ms, p95 ${result.attestColdMs.p95.toFixed(2)} ms; cold verify-attestation (bundle + .att) p50 ${result.verifyAttestationColdMs.p50.toFixed(2)} ms, p95 ${result.verifyAttestationColdMs.p95.toFixed(2)} ms (target p50 < 20 ms)`);
  console.log(`cached attestation decisions ${result.cachedAttestationDecisionsPerSecond}/s (target > 10,000/s)`);
  console.log(`admission over attestations (Gatekeeper + Kyverno condition + vulnerability gate) cold p50 ${result.admissionOverAttestationsColdMs.p50.toFixed(2)} ms, p95 ${result.admissionOverAttestationsColdMs.p95.toFixed(2)} ms; cached ${result.cachedAdmissionDecisionsPerSecond}/s (target > 10,000/s)`);
}
