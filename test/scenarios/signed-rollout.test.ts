import { writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { renderJunit, renderSummary } from '../../src/report/render.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario, parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';
import { PullbenchError } from '../../src/errors.js';
import { generateCosignKeyPair } from '../../src/supply-chain/keys.js';
import { makeTempDir } from '../../src/util/temp.js';

// The signed-rollout scenario, scaled down, against an embedded registry behind a
// proxy that counts blob GETs per repository: the denied image must never be pulled.
let registry: StartedRegistry;
let proxy: Server;
let proxyUrl: string;
const blobGets = new Map<string, number>();
// GETs per repo@digest: a signed image's repository also serves its signature's payload blob.
const digestGets = new Map<string, number>();

beforeAll(async () => {
  registry = await embeddedRegistry.start({});
  const target = new URL(registry.url);
  proxy = createServer((req, res) => {
    const m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]+)/.exec(req.url ?? '');
    if (m && req.method === 'GET') {
      blobGets.set(m[1]!, (blobGets.get(m[1]!) ?? 0) + 1);
      digestGets.set(`${m[1]}@${m[2]}`, (digestGets.get(`${m[1]}@${m[2]}`) ?? 0) + 1);
    }
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((ok) => proxy?.close(ok));
  await registry?.[Symbol.asyncDispose]();
});

const scaled = ['cluster.nodes=2', 'rollouts[0].deployment.replicas=2', 'rollouts[1].deployment.replicas=2', ...[0, 1, 2, 3].map((i) => `images[${i}].synth.layers=[300kB]`)];

async function run(set: string[] = []) {
  const loaded = await loadScenario('scenarios/signed-rollout.yaml', { set: [...scaled, ...set] });
  loaded.scenario.registry = { provider: 'external', url: proxyUrl };
  blobGets.clear();
  digestGets.clear();
  return (await runScenario(loaded, { writeOutputs: false })).results;
}

/** GETs of the image's own config and layer blobs (read from the registry directly, not counted). */
async function imageBlobGets(repo: string, tag: string): Promise<number> {
  await using client = new RegistryClient({ baseUrl: registry.url });
  const manifest = JSON.parse((await client.getManifest(repo, tag)).bytes.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  return [manifest.config, ...manifest.layers].reduce((n, d) => n + (digestGets.get(`${repo}@${d.digest}`) ?? 0), 0);
}

describe('scenario signed-rollout', () => {
  it('admits the signed image, denies the unsigned one, and never pulls it', async () => {
    const r = await run();
    const sc = r.supplyChain!;
    expect(sc.signing).toMatchObject({ key: 'generated', format: 'legacy', images: ['demo/signed:v1', 'demo/vulnerable:v1', 'demo/allowlisted:v1'] });
    expect(sc.images.map((i) => [i.image, i.decision, i.admitted])).toEqual([
      ['demo/signed:v1', 'allow', true],
      ['demo/unsigned:v1', 'deny', false],
      ['demo/vulnerable:v1', 'deny', false],
      ['demo/allowlisted:v1', 'allow', true],
    ]);
    expect(sc.images[0]!.signer).toBe('scenario-key/signing');
    expect(sc.images[1]!.reasons.join()).toContain('no signatures');
    expect(sc.cache.verifications).toBe(5); // 4 signatures, and the unsigned image's vuln attestations (it has no report)

    const pods = r.arms[0]!.repetitions[0]!.pods;
    const denied = pods.filter((p) => p.rollout === 'unsigned');
    expect(denied).toHaveLength(2);
    expect(denied.every((p) => p.failureReason === 'AdmissionDenied' && p.expectFailure && p.pullStartedAt === undefined)).toBe(true);
    expect(pods.filter((p) => p.rollout === 'signed' && p.outcome === 'ready')).toHaveLength(2);
    // The proof: not one blob of the unsigned image left the registry; the signed one was pulled.
    expect(blobGets.get('demo/unsigned') ?? 0).toBe(0);
    expect(blobGets.get('demo/signed')).toBeGreaterThan(0);
    // The denial was expected (expect: failure), so the gate and the JUnit case pass.
    expect(r.gate).toMatchObject({ failureRate: 0, passed: true });
    const junit = renderJunit(r);
    expect(junit).toContain('<testcase name="verify demo/unsigned:v1" classname="pullbench.signed-rollout.supply-chain"></testcase>');
    expect(renderSummary(r)).toMatch(/DENIED\s+demo\/unsigned:v1/);
  });

  it('denies the signed image with a HIGH CVE, naming it, admits the one whose HIGH CVE is allowlisted, and pulls only that one', async () => {
    const r = await run();
    const [, , vulnerable, allowlisted] = r.supplyChain!.images;
    // Signed, so only the vulnerability gate denies it, and the reason names the CVE that is not allowlisted.
    expect(vulnerable!.reasons).toEqual([expect.stringMatching(/^VulnerabilityGate\/scenario-vulnerabilities: .*1 finding\(s\) at or above HIGH: CVE-2023-0464 \(HIGH, libcrypto3\); allowlisted: CVE-2023-0286$/)]);
    expect(allowlisted!.rules.find((x) => x.rule === 'VulnerabilityGate/scenario-vulnerabilities')).toMatchObject({ result: 'pass', reason: expect.stringContaining('allowlisted: CVE-2023-0286') });
    const pods = r.arms[0]!.repetitions[0]!.pods;
    expect(pods.filter((p) => p.rollout === 'vulnerable').every((p) => p.failureReason === 'AdmissionDenied' && p.pullStartedAt === undefined)).toBe(true);
    expect(pods.filter((p) => p.rollout === 'allowlisted' && p.outcome === 'ready')).toHaveLength(2);
    expect(await imageBlobGets('demo/vulnerable', 'v1')).toBe(0);
    expect(await imageBlobGets('demo/allowlisted', 'v1')).toBeGreaterThan(0);
  });

  it('denies the allowlisted image too once its CVE leaves the allowlist', async () => {
    const r = await run(['verify.vulnerabilities.allow=[]', 'rollouts[3].expect=failure']);
    const allowlisted = r.supplyChain!.images[3]!;
    expect([allowlisted.decision, allowlisted.reasons.join()]).toEqual(['deny', expect.stringContaining('CVE-2023-0286 (HIGH, libcrypto3)')]);
    expect(await imageBlobGets('demo/allowlisted', 'v1')).toBe(0);
  });

  it('counts an unexpected denial toward the failure-rate gate and fails its JUnit case', async () => {
    const r = await run(['rollouts[1].expect=success']);
    expect(r.gate.passed).toBe(false);
    expect(r.gate.failureRate).toBe(0.25); // 2 unexpected of 8 pods
    expect(renderJunit(r)).toMatch(/<testcase name="verify demo\/unsigned:v1"[^>]*><failure message="denied: /);
  });

  it('warn mode records the denial and rolls the image out; bundle signatures verify too', async () => {
    const r = await run(['verify.mode=warn', 'rollouts[1].expect=success', 'signing.format=bundle']);
    const unsigned = r.supplyChain!.images[1]!;
    expect([unsigned.decision, unsigned.admitted]).toEqual(['deny', true]);
    expect(r.supplyChain!.images[0]!.decision).toBe('allow');
    expect(r.arms[0]!.repetitions[0]!.pods.every((p) => p.outcome === 'ready')).toBe(true);
    expect(blobGets.get('demo/unsigned')).toBeGreaterThan(0);
  });

  it('signs with a given key, verifies with its cosign.pub and policy files, and keeps the password out of the results', async () => {
    await using dir = await makeTempDir();
    const password = 'given-key-pw-8f3a';
    const pair = await generateCosignKeyPair(password);
    await writeFile(join(dir.path, 'cosign.key'), pair.privatePem);
    await writeFile(join(dir.path, 'cosign.pub'), pair.publicPem);
    // A warn-only rule: images must be pinned by digest (ours are tags), so the signed image is admitted with a warning.
    await writeFile(join(dir.path, 'digests.yaml'), 'apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sImageDigests\nmetadata: { name: digests }\nspec: { enforcementAction: warn }\n');
    const r = await run([`signing.key=${join(dir.path, 'cosign.key')}`, `signing.password=${password}`, `verify.key=${join(dir.path, 'cosign.pub')}`, `verify.policies=[${join(dir.path, 'digests.yaml')}]`]);
    const sc = r.supplyChain!;
    expect(sc.signing!.key).toBe('given');
    expect(sc.images.map((i) => [i.decision, i.admitted])).toEqual([['warn', true], ['deny', false], ['deny', false], ['warn', true]]);
    expect(sc.images[0]!.signer).toBe('scenario-key/key');
    expect(sc.images[0]!.reasons.join()).toContain('uses an image without a digest');
    expect(JSON.stringify(r)).not.toContain(password);
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY');
  });
});

describe('the verify stage with a rate-limited registry', () => {
  it('does not spend the first arm\'s manifest budget on verification', async () => {
    const set = ['cluster.nodes=8', 'registry.rateLimit.manifestGets=5', 'rollouts[0].timeout=3s', 'cluster.layerStore=inflate-only'];
    const direct = async (extra: string[]) => {
      const r = (await runScenario(await loadScenario('scenarios/rate-limit-storm.yaml', { set: [...set, ...extra] }), { writeOutputs: false })).results;
      return { failures: r.arms.find((a) => a.arm.topology === 'direct')!.aggregate.failures.total, decisions: r.supplyChain?.images.map((i) => i.decision) };
    };
    const plain = await direct([]);
    const verified = await direct(['signing={format: legacy}', 'verify={key: signing}']);
    expect(verified.decisions).toEqual(['allow']);
    expect(plain.failures).toBeGreaterThan(0);
    // Signing the fresh registry's image still spends its own manifest GETs (resolve, .sig lookup) in the window:
    // at most one more failed pod here; the verify stage's requests (3 more before the fix) spend none.
    expect(verified.failures).toBeLessThanOrEqual(plain.failures + 1);
  });
});

describe('the signing and verify sections', () => {
  const base = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: s }
images: [{ ref: demo/a:v1, synth: { layers: [1kB] } }]
rollouts: [{ name: a, deployment: { image: demo/a:v1 } }]
`;
  function problems(extra: string): Record<string, string> {
    try {
      parseScenario(base + extra, 'x.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(PullbenchError);
      expect((err as PullbenchError).code).toBe('SCENARIO_INVALID');
      return Object.fromEntries(((err as PullbenchError).details.problems as ScenarioProblem[]).map((p) => [p.path, p.message]));
    }
    return {};
  }

  it('rejects an unknown image to sign, key "signing" without a signing section, a key without its password, an empty verify', () => {
    expect(Object.keys(problems('signing: { images: [demo/nope:v1] }\n'))).toEqual(['signing.images[0]']);
    expect(Object.keys(problems('verify: { key: signing }\n'))).toEqual(['verify.key']);
    expect(Object.keys(problems('signing: { key: cosign.key }\n'))).toEqual(['signing.password']);
    expect(Object.keys(problems('verify: { mode: warn }\n'))).toEqual(['verify']);
  });

  it('redacts the signing password from the results spec', () => {
    const loaded = parseScenario(base + 'signing: { key: cosign.key, password: "${env:SIGN_PW}" }\n', 'x.yaml', { env: { SIGN_PW: 'hunter2-signing' } });
    expect(loaded.scenario.signing!.password).toBe('hunter2-signing');
    expect(loaded.secretValues).toContain('hunter2-signing');
    expect(loaded.secretPaths.map((p) => p.join('.'))).toContain('signing.password');
  });
});
