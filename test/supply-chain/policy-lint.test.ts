import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseReference } from '../../src/oci/reference.js';
import { gatekeeperViolations } from '../../src/supply-chain/gatekeeper.js';
import { globMatch, globSubject } from '../../src/supply-chain/image-match.js';
import { parsePolicies } from '../../src/supply-chain/policy.js';
import { lintPolicies } from '../../src/supply-chain/policy-lint.js';

const gk = (kind: string, param: string, values: string[]) => parsePolicies(`kind: ${kind}\nmetadata: {name: r}\nspec: {parameters: {${param}: ${JSON.stringify(values)}}}\n`, 'inline');
const admitted = (set: ReturnType<typeof gk>, image: string) => gatekeeperViolations(set.rules[0]!, { field: 'containers', name: 'c', image }).length === 0;

describe('policy lint', () => {
  it('names the look-alike registry that an allowed prefix without "/" admits, and Gatekeeper admits it', () => {
    const set = gk('K8sAllowedRepos', 'repos', ['registry.example.com']);
    const [f] = lintPolicies(set);
    expect(f).toMatchObject({ code: 'LOOKALIKE_PREFIX', severity: 'bypass', image: 'registry.example.com.evil.io/x', policy: 'K8sAllowedRepos/r' });
    expect(admitted(set, f!.image)).toBe(true);
    expect(parseReference(f!.image).domain).not.toBe('registry.example.com');
  });

  it('names the Docker Hub short name that a docker.io/library prefix denies, and Gatekeeper denies it', () => {
    const set = gk('K8sAllowedRepos', 'repos', ['docker.io/library/']);
    const findings = lintPolicies(set);
    expect(findings).toEqual([expect.objectContaining({ code: 'DOCKER_HUB_SHORT_NAME', severity: 'strict', image: 'nginx:1.27' })]);
    expect(admitted(set, 'nginx:1.27')).toBe(false);
    expect(parseReference('nginx:1.27').name).toBe('docker.io/library/nginx');
  });

  it('reports both findings for "docker.io/library" (no slash, and short names)', () => {
    expect(lintPolicies(gk('K8sAllowedRepos', 'repos', ['docker.io/library'])).map((f) => [f.code, f.image])).toEqual([
      ['LOOKALIKE_PREFIX', 'docker.io/library-evil/x'],
      ['DOCKER_HUB_SHORT_NAME', 'nginx:1.27'],
    ]);
  });

  it('is quiet for slash-terminated registry prefixes and exact v2 entries', () => {
    expect(lintPolicies(gk('K8sAllowedRepos', 'repos', ['registry.example.com/', 'ghcr.io/acme/']))).toEqual([]);
    expect(lintPolicies(gk('K8sAllowedReposv2', 'allowedImages', ['ubuntu:20.14', 'myregistry.azurecr.io/*']))).toEqual([]);
  });

  it('flags a v2 prefix wildcard without "/", and the example gets through', () => {
    const set = gk('K8sAllowedReposv2', 'allowedImages', ['myregistry.azurecr.io*']);
    const [f] = lintPolicies(set);
    expect(f).toMatchObject({ code: 'LOOKALIKE_PREFIX', image: 'myregistry.azurecr.io.evil.io/x' });
    expect(admitted(set, f!.image)).toBe(true);
  });

  it('names the spellings that slip past a disallowed prefix, and Gatekeeper admits each', () => {
    for (const prefix of ['docker.io/', 'nginx', 'k8s.gcr.io/']) {
      const set = gk('K8sDisallowedRepos', 'repos', [prefix]);
      const findings = lintPolicies(set);
      expect(findings.length, prefix).toBeGreaterThan(0);
      for (const f of findings) {
        expect(f.severity).toBe('bypass');
        expect(admitted(set, f.image), `${prefix} -> ${f.image}`).toBe(true);
      }
    }
    expect(lintPolicies(gk('K8sDisallowedRepos', 'repos', ['k8s.gcr.io/']))[0]!.image).toBe('k8s.gcr.io:443/x');
  });

  it('flags ClusterImagePolicy globs that never match what the webhook matches', () => {
    const set = parsePolicies(
      `kind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: "docker.io/library/*"}, {glob: "ghcr.io/acme/app"}, {glob: "ghcr.io/acme/*"}]\n  authorities: [{name: a, static: {action: pass}}]\n`,
      'inline',
    );
    const findings = lintPolicies(set);
    expect(findings.map((f) => f.code)).toEqual(['GLOB_DOCKER_IO', 'GLOB_NEVER_MATCHES', 'GLOB_ONE_SEGMENT']);
    for (const f of findings) {
      const ref = parseReference(f.image);
      expect(globMatch(f.entry, globSubject(ref, ref.digest ?? `sha256:${'1'.repeat(64)}`)), f.image).toBe(false);
      expect(f.severity).toBe('strict'); // no-match-policy defaults to deny
    }
  });

  it('flags Kyverno patterns that never match the docker.io-qualified name Kyverno compares', () => {
    const set = parsePolicies(`kind: ClusterPolicy\nmetadata: {name: k}\nspec:\n  rules:\n    - name: r\n      verifyImages:\n        - imageReferences: ["nginx*", "acme/*", "index.docker.io/acme/*", "docker.io/acme/*", "ghcr.io/acme/*"]\n`, 'inline');
    const findings = lintPolicies(set);
    expect(findings.map((f) => [f.entry, f.image])).toEqual([
      ['nginx*', 'nginx:1.0'],
      ['acme/*', 'acme/app:1.0'],
      ['index.docker.io/acme/*', 'acme/app:1.0'],
    ]);
    expect(findings.every((f) => f.severity === 'bypass' && f.code === 'PATTERN_NEVER_MATCHES')).toBe(true);
  });

  it('passes the policies/ examples without a bypass', () => {
    for (const file of ['registry-hygiene.yaml', 'signed-by-release-key.yaml', 'system-images.yaml', 'keyless-github-actions.yaml']) {
      const set = parsePolicies(readFileSync(new URL(`../../policies/${file}`, import.meta.url), 'utf8'), file);
      expect(lintPolicies(set).filter((f) => f.severity === 'bypass'), file).toEqual([]);
    }
  });
});

describe('pullbench policy lint', () => {
  it('exits 7 and names the look-alike image, in --json too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullbench-lint-'));
    try {
      const file = join(dir, 'repos.yaml');
      await writeFile(file, 'kind: K8sAllowedRepos\nmetadata: {name: allowed}\nspec: {parameters: {repos: [registry.example.com, docker.io/library]}}\n');
      const bin = new URL('../../bin/dev.js', import.meta.url).pathname;
      const run = (args: string[]) => promisify(execFile)(bin, args).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
      const text = await run(['policy', 'lint', file]);
      expect(text.code).toBe(7);
      expect(text.stdout).toContain('registry.example.com.evil.io/x');
      expect(text.stdout).toContain('nginx:1.27');
      const json = await run(['policy', 'lint', file, '--json']);
      expect(json.code).toBe(7);
      const out = JSON.parse(json.stdout) as { error: { code: string; details: { findings: { image: string }[] } } };
      expect(out.error.code).toBe('POLICY_LINT_FAILED');
      expect(out.error.details.findings.map((f) => f.image)).toContain('registry.example.com.evil.io/x');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
