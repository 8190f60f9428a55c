import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { RegistryClient } from '../../src/oci/client.js';
import { parseReference } from '../../src/oci/reference.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { VerificationCache } from '../../src/supply-chain/cache.js';
import { generateCosignKeyPair, readPrivateKey } from '../../src/supply-chain/keys.js';
import { globMatch, globSubject } from '../../src/supply-chain/image-match.js';
import { verifyImages } from '../../src/supply-chain/admission.js';
import { emptyPolicySet, parsePolicies, type PolicySet } from '../../src/supply-chain/policy.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { imagesInManifests } from '../../src/supply-chain/workloads.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';

const POLICIES = new URL('../../policies/', import.meta.url).pathname;

describe('policies/ examples', () => {
  it.each(readdirSync(POLICIES).filter((f) => f.endsWith('.yaml')))('%s loads', (file) => {
    const set = parsePolicies(readFileSync(join(POLICIES, file), 'utf8'), file);
    expect(set.imagePolicies.length + set.rules.length + set.kyverno.length + set.vulnerabilityGates.length).toBeGreaterThan(0);
  });
});

describe('policy files', () => {
  it('collects every problem and throws POLICY_INVALID once', () => {
    const text = 'kind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: "bad glob!"}]\n  authorities: [{name: a}]\n---\nkind: Unknown\n';
    try {
      parsePolicies(text, 'p.yaml');
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'POLICY_INVALID')).toBe(true);
      expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(3);
    }
  });
});

describe('globs as policy-controller matches them (anchored, against index.docker.io names)', () => {
  const subject = (image: string): string => globSubject(parseReference(image));
  it.each([
    ['index.docker.io/library/*', 'nginx', true],
    ['*', 'nginx:1.27', true],
    ['*', 'acme/app', false],
    ['*/*', 'acme/app', true],
    ['docker.io/library/*', 'nginx', false],
    ['ghcr.io/acme/*', 'ghcr.io/acme/app:v1', true],
    ['ghcr.io/acme/*', 'ghcr.io/acme/team/app:v1', false],
    ['ghcr.io/acme/**', 'ghcr.io/acme/team/app:v1', true],
    ['ghcr.io/acme/**', 'ghcr.io/acmecorp/app:v1', false],
    ['ghcr.io/acme/app', 'ghcr.io/acme/app:v1', false],
    ['ghcr.io/acme/app:**', 'ghcr.io/acme/app:v1', true],
    ['registry.io/**', 'registry.io.evil.com/x:v1', false],
  ])('%s vs %s -> %s', (glob, image, expected) => {
    expect(globMatch(glob, subject(image))).toBe(expected);
  });
});

describe('allowed repositories as Gatekeeper decides them (startswith on the image as written)', () => {
  const decide = async (repos: string[], image: string) => {
    const set = parsePolicies(`kind: K8sAllowedRepos\nmetadata: {name: r}\nspec: {parameters: {repos: ${JSON.stringify(repos)}}}\n`, 'inline');
    return (await verifyImages([image], set, { cache: new VerificationCache({ client: new RegistryClient({ baseUrl: 'http://127.0.0.1:9' }) }) }))[0]!;
  };
  it('admits a look-alike registry when the prefix has no trailing slash', async () => {
    expect((await decide(['registry.example.com'], 'registry.example.com.evil.io/x')).decision).toBe('allow');
  });
  it('denies a Docker Hub short name under a docker.io/library prefix, with Gatekeeper\'s message', async () => {
    const d = await decide(['docker.io/library'], 'nginx:1.27');
    expect(d.decision).toBe('deny');
    expect(d.rules[0]!.reason).toBe('container <nginx:1.27> has an invalid image repo <nginx:1.27>, allowed repos are ["docker.io/library"]');
  });
  it('admits only what starts with a slash-terminated prefix', async () => {
    expect((await decide(['registry.example.com/'], 'registry.example.com/team/app:v1')).decision).toBe('allow');
    expect((await decide(['registry.example.com/'], 'registry.example.com.evil.io/x')).decision).toBe('deny');
  });
});

describe('workload images', () => {
  it('finds containers, init and ephemeral containers in every workload kind', () => {
    const pod = (c: string) => ({ spec: { initContainers: [{ name: 'i', image: `${c}-init` }], containers: [{ name: 'c', image: c }], ephemeralContainers: [{ name: 'e', image: `${c}-debug` }] } });
    const docs = [
      { kind: 'Pod', metadata: { name: 'p' }, ...pod('pod') },
      { kind: 'Deployment', metadata: { name: 'd' }, spec: { template: pod('deploy') } },
      { kind: 'DaemonSet', metadata: { name: 'ds' }, spec: { template: pod('ds') } },
      { kind: 'StatefulSet', metadata: { name: 'ss' }, spec: { template: pod('ss') } },
      { kind: 'Job', metadata: { name: 'j' }, spec: { template: pod('job') } },
      { kind: 'CronJob', metadata: { name: 'cj' }, spec: { jobTemplate: { spec: { template: pod('cron') } } } },
      { kind: 'Service', metadata: { name: 'ignored' } },
    ];
    const text = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    const images = imagesInManifests(text, 'all.yaml');
    expect(images).toHaveLength(18);
    expect(images[0]).toMatchObject({ field: 'initContainers', name: 'i', image: 'pod-init' });
    expect(images.filter((i) => i.resource.startsWith('CronJob/cj')).map((i) => i.image)).toEqual(['cron-init', 'cron', 'cron-debug']);
  });
});

describe('evaluating images against a registry', () => {
  let registry: StartedRegistry;
  let client: RegistryClient;
  let pubPem: string;
  let signed: string;
  let unsigned: string;
  let dir: TempDir;

  beforeAll(async () => {
    registry = await embeddedRegistry.start({ port: 0, storage: 'memory' });
    client = new RegistryClient({ baseUrl: registry.url });
    const pair = await generateCosignKeyPair('');
    pubPem = pair.publicPem;
    await pushSynthImage(client, 'team/app', 'v1', { layers: [256], seed: 'p1' });
    await pushSynthImage(client, 'team/other', 'v1', { layers: [256], seed: 'p2' });
    const s = await signImage(client, `${registry.host}/team/app:v1`, { key: await readPrivateKey(pair.privatePem, '') });
    signed = `${registry.host}/team/app@${s.digest}`;
    unsigned = `${registry.host}/team/other:v1`;
    dir = await makeTempDir();
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
    await dir?.remove();
  });

  const policy = (extra = '', mode = 'enforce', authorities?: string): PolicySet =>
    parsePolicies(
      `kind: ClusterImagePolicy
metadata: {name: team}
spec:
  mode: ${mode}
  images: [{glob: "${registry.host}/team/**"}]
  authorities:
${authorities ?? `    - name: release
      key:
        data: |
${pubPem.trim().split('\n').map((l) => `          ${l}`).join('\n')}`}
${extra}`,
      'inline',
    );
  const evaluate = (images: string[], set: PolicySet, cache = new VerificationCache({ client })) => verifyImages(images, set, { cache, ignoreTlog: true });

  it('allows a signed image and denies an unsigned one, with the reason', async () => {
    const [a, b] = await evaluate([signed, unsigned], policy());
    expect(a!.decision).toBe('allow');
    expect(b!.decision).toBe('deny');
    expect(b!.rules.find((r) => r.rule === 'ClusterImagePolicy/team')!.reason).toContain('no signatures');
  });

  it('warns instead of denying in warn mode', async () => {
    expect((await evaluate([unsigned], policy('', 'warn')))[0]!.decision).toBe('warn');
  });

  it('passes when any authority passes, and requires every matching policy', async () => {
    const anyOf = policy('', 'enforce', `    - name: never\n      static: {action: fail}\n    - name: always\n      static: {action: pass}`);
    expect((await evaluate([unsigned], anyOf))[0]!.decision).toBe('allow');
    const both = policy(`---\nkind: ClusterImagePolicy\nmetadata: {name: strict}\nspec:\n  images: [{glob: "${registry.host}/**"}]\n  authorities: [{name: no, static: {action: fail}}]\n`);
    const [d] = await evaluate([signed], both);
    expect(d!.decision).toBe('deny');
    expect(d!.rules.map((r) => [r.rule, r.result])).toEqual([['ClusterImagePolicy/team', 'pass'], ['ClusterImagePolicy/strict', 'fail']]);
  });

  it('applies the no-match policy to images no policy matches', async () => {
    const set = policy();
    const outside = `${registry.host}/elsewhere:v1`;
    await pushSynthImage(client, 'elsewhere', 'v1', { layers: [128], seed: 'p3' });
    expect((await evaluate([outside], set))[0]!.decision).toBe('deny');
    set.noMatchPolicy = 'allow';
    expect((await evaluate([outside], set))[0]!.decision).toBe('allow');
  });

  it('applies Gatekeeper rules without a registry', async () => {
    const set = parsePolicies(readFileSync(join(POLICIES, 'registry-hygiene.yaml'), 'utf8'), 'registry-hygiene.yaml', emptyPolicySet());
    const [evil, latest, pinned] = await evaluate(['registry.example.com.evil.io/app:v1', 'registry.example.com/app', `registry.example.com/app@sha256:${'a'.repeat(64)}`], set);
    expect(evil!.decision).toBe('deny');
    expect(latest!.rules.map((r) => r.result)).toEqual(['pass', 'fail', 'warn']);
    expect(pinned!.decision).toBe('allow');
  });

  it('fetches and verifies one image deployed 10,000 times once, and again after the TTL', async () => {
    let now = 0;
    const cache = new VerificationCache({ client, now: () => now, ttlMs: 60_000, negativeTtlMs: 5_000 });
    const set = policy();
    registry.resetStats();
    for (let i = 0; i < 10_000; i++) await verifyImages([signed], set, { cache, ignoreTlog: true });
    const once = registry.stats();
    expect(cache.stats).toMatchObject({ resolves: 1, signatureFetches: 1, verifications: 1, hits: 9_999 });
    // one manifest GET for the image, one for the .sig tag, one referrers query, one blob for the payload
    expect(once.manifestGet + once.manifestHead).toBeLessThanOrEqual(3);
    expect(once.blobGet).toBe(1);
    now += 61_000;
    await verifyImages([signed], set, { cache, ignoreTlog: true });
    expect(cache.stats.verifications).toBe(2);
    expect(registry.stats().blobGet).toBe(2);
  });

  it('keeps negative entries for their shorter TTL', async () => {
    let now = 0;
    const cache = new VerificationCache({ client, now: () => now, ttlMs: 60_000, negativeTtlMs: 5_000 });
    const set = policy();
    for (let i = 0; i < 100; i++) await verifyImages([unsigned], set, { cache, ignoreTlog: true });
    expect(cache.stats.verifications).toBe(1);
    now += 6_000;
    await verifyImages([unsigned], set, { cache, ignoreTlog: true });
    expect(cache.stats.verifications).toBe(2);
  });

  it('pullbench policy check prints a decision per image and exits 7 on deny', async () => {
    const workload = join(dir.path, 'deploy.yaml');
    await writeFile(workload, JSON.stringify({ kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'a', image: signed }, { name: 'b', image: unsigned }] } } } }));
    const policyFile = join(dir.path, 'policy.yaml');
    await writeFile(policyFile, `kind: ClusterImagePolicy\nmetadata: {name: team}\nspec:\n  images: [{glob: "${registry.host}/team/**"}]\n  authorities:\n    - name: k\n      key:\n        data: ${JSON.stringify(pubPem)}\n`);
    const bin = new URL('../../bin/dev.js', import.meta.url).pathname;
    const result = await promisify(execFile)(bin, ['policy', 'check', workload, '--policy', policyFile, '--insecure-ignore-tlog']).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(result.code).toBe(7);
    expect(result.stdout).toMatch(/^ALLOW .*team\/app@sha256/m);
    expect(result.stdout).toMatch(/^DENY {2}.*team\/other:v1/m);
  }, 120_000);
});
