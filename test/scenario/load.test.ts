import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPullbenchError, type PullbenchError } from '../../src/errors.js';
import { loadScenario, parseScenario, redactScenario, redactValues, type ScenarioProblem } from '../../src/scenario/load.js';
import { expandArms, armMatches } from '../../src/scenario/matrix.js';

const HEADER = 'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\n';
const MINIMAL = `${HEADER}images:\n  - ref: demo/app:v1\n    synth: { layers: [1MB] }\nrollouts:\n  - name: app\n    deployment: { image: demo/app:v1, replicas: 2 }\n`;

function problemsOf(text: string, opts: Parameters<typeof parseScenario>[2] = {}): { code: string; problems: ScenarioProblem[] } {
  try {
    parseScenario(text, 'bad.yaml', opts);
  } catch (err) {
    if (!isPullbenchError(err)) throw err;
    return { code: err.code, problems: (err as PullbenchError).details.problems as ScenarioProblem[] };
  }
  throw new Error('expected the scenario to be rejected');
}

describe('a minimal scenario', () => {
  it('loads with every default filled in', () => {
    const { scenario } = parseScenario(MINIMAL, 'min.yaml');
    expect(scenario.cluster).toEqual({
      driver: 'emulated',
      nodes: 3,
      runtime: 'embedded',
      layerStore: 'disk',
      kubelet: { ensureSecretPulledImages: false },
    });
    expect(scenario.images[0]!.synth).toEqual({ layers: [1_000_000], platforms: ['linux/amd64'], compression: 'gzip' });
    expect(scenario.rollouts[0]!.deployment).toMatchObject({ replicas: 2, maxSurge: '25%', maxUnavailable: '25%', imagePullSecrets: [] });
    expect(scenario.repeat).toBe(1);
    expect(scenario.failureRate.max).toBe(0);
  });

  it('parses sizes, durations, bandwidths and percentages into base units', () => {
    const text = `${MINIMAL}links:\n  registry: { bandwidth: 200Mbit, latency: 40ms, jitter: 1.5s, sharedUplink: 25MBps }\nregistry:\n  rateLimit: { manifestGets: 100, window: 6h }\n  faults: { errorRate: 5%, latency: 1m30s }\n`;
    const { scenario } = parseScenario(text, 'units.yaml');
    expect(scenario.links.registry).toEqual({ bandwidth: 200e6, latency: 40, jitter: 1500, sharedUplink: 200e6 });
    expect(scenario.registry.rateLimit).toEqual({ manifestGets: 100, window: 6 * 3600 * 1000 });
    expect(scenario.registry.faults).toEqual({ errorRate: 0.05, latency: 90_000 });
  });
});

describe('the shipped quickstart scenario', () => {
  it('loads and expands to four arms', async () => {
    const loaded = await loadScenario('scenarios/quickstart.yaml');
    expect(expandArms(loaded.scenario).map((a) => a.name)).toEqual([
      'Always/direct/cold',
      'Always/mirror/cold',
      'IfNotPresent/direct/cold',
      'IfNotPresent/mirror/cold',
    ]);
  });
});

describe('when a file has several problems', () => {
  it('lists every problem at once with file:line:column', () => {
    const text = `${HEADER}images:\n  - ref: demo/app:v1\n    synth: { layers: [1XB] }\ncluster:\n  nodes: many\n  runtme: containerd\nrollouts:\n  - name: app\n    deployment: { image: demo/app:v9, replicas: -1 }\n`;
    const { code, problems } = problemsOf(text);
    expect(code).toBe('SCENARIO_INVALID');
    const byPath = Object.fromEntries(problems.map((p) => [p.path, `${p.line}:${p.column}`]));
    expect(byPath).toEqual({
      'images[0].synth.layers[0]': '6:23',
      'cluster.nodes': '8:10',
      'cluster.runtme': '9:3',
      'rollouts[0].deployment.replicas': '12:49',
    });
    expect(problems.find((p) => p.path === 'cluster.runtme')!.message).toContain('did you mean "runtime"');
  });

  it('reports cross-field problems (unknown image, unknown secret, bad update target) once the fields are valid', () => {
    const text = `${HEADER}images:\n  - ref: demo/app:v1\n    synth: { layers: [1MB] }\nrollouts:\n  - name: app\n    deployment: { image: demo/app:v9, imagePullSecrets: [nope] }\n  - name: up\n    update: { target: ghost, image: demo/app:v1 }\n`;
    const { problems } = problemsOf(text);
    expect(problems.map((p) => p.path).sort()).toEqual([
      'rollouts[0].deployment.image',
      'rollouts[0].deployment.imagePullSecrets[0]',
      'rollouts[1].update.target',
    ]);
  });
});

describe('bad scenario files of every kind', () => {
  const cases: [string, string, string, string][] = [
    ['YAML syntax', `${HEADER}images: [\n`, 'SCENARIO_INVALID', ''],
    ['wrong apiVersion', MINIMAL.replace('v1alpha1', 'v2'), 'SCENARIO_INVALID', 'apiVersion'],
    ['wrong kind', MINIMAL.replace('kind: Scenario', 'kind: Pod'), 'SCENARIO_INVALID', 'kind'],
    ['missing images', `${HEADER}rollouts: [{ name: a, daemonSet: { image: x:y } }]\n`, 'SCENARIO_INVALID', ''],
    ['unknown top-level key', `${MINIMAL}extra: 1\n`, 'SCENARIO_INVALID', 'extra'],
    ['bad duration', `${MINIMAL}links: { registry: { bandwidth: 1Gbit, latency: 40 } }\n`, 'SCENARIO_INVALID', 'links.registry.latency'],
    ['bad bandwidth', `${MINIMAL}links: { registry: { bandwidth: fast } }\n`, 'SCENARIO_INVALID', 'links.registry.bandwidth'],
    ['bad percentage', `${MINIMAL}failureRate: { max: 150% }\n`, 'SCENARIO_INVALID', 'failureRate.max'],
    ['bad enum', `${MINIMAL}matrix: { pullPolicy: [Sometimes] }\n`, 'SCENARIO_INVALID', 'matrix.pullPolicy[0]'],
    ['duplicate matrix entry', `${MINIMAL}matrix: { cache: [cold, cold] }\n`, 'SCENARIO_INVALID', 'matrix.cache[1]'],
    ['mirror topology without mirror', `${MINIMAL}matrix: { topology: [mirror] }\n`, 'SCENARIO_INVALID', 'matrix.topology'],
    ['two workload kinds in one rollout', MINIMAL.replace('deployment:', 'daemonSet: { image: demo/app:v1 }\n    deployment:'), 'SCENARIO_INVALID', 'rollouts[0]'],
    ['image without synth or import', MINIMAL.replace('    synth: { layers: [1MB] }\n', ''), 'SCENARIO_INVALID', 'images[0]'],
    ['external provider without url', `${MINIMAL}registry: { provider: external }\n`, 'SCENARIO_INVALID', 'registry.url'],
    ['threshold on no arm', `${MINIMAL}thresholds: [{ arm: Always, metric: pull, max: 1s }]\n`, 'SCENARIO_INVALID', 'thresholds[0].arm'],
    ['percentile on a count metric', `${MINIMAL}thresholds: [{ metric: upstreamPulls, percentile: 95, max: 3 }]\n`, 'SCENARIO_INVALID', 'thresholds[0].percentile'],
    ['both maxSurge and maxUnavailable 0', MINIMAL.replace('replicas: 2', 'replicas: 2, maxSurge: 0, maxUnavailable: 0'), 'SCENARIO_INVALID', 'rollouts[0].deployment'],
    ['bad maxSurge', MINIMAL.replace('replicas: 2', 'replicas: 2, maxSurge: half'), 'SCENARIO_INVALID', 'rollouts[0].deployment.maxSurge'],
    ['duplicate key', `${MINIMAL}repeat: 1\nrepeat: 2\n`, 'SCENARIO_INVALID', ''],
    ['empty file', '', 'SCENARIO_INVALID', ''],
  ];
  it.each(cases)('%s', (_label, text, code, path) => {
    const { code: got, problems } = problemsOf(text);
    expect(got).toBe(code);
    expect(problems.map((p) => p.path)).toContain(path);
    for (const p of problems) expect(p.line).toBeGreaterThan(0);
  });

  it('a __proto__ key in the file is refused where it stands', () => {
    const { code, problems } = problemsOf(`${MINIMAL}__proto__: { x: 1 }\n`);
    expect(code).toBe('SCENARIO_INVALID');
    expect(problems).toContainEqual(expect.objectContaining({ path: '__proto__', line: 10 }));
  });

  it('a file that does not exist -> SCENARIO_NOT_FOUND', async () => {
    await expect(loadScenario('/nonexistent/s.yaml')).rejects.toMatchObject({ code: 'SCENARIO_NOT_FOUND' });
  });
});

describe('when the input is far from a scenario', () => {
  it('lists at most 20 problems and counts the rest', () => {
    const many = Array.from({ length: 60 }, (_, i) => `extra${i}: 1`).join('\n');
    const { code, problems } = problemsOf(`${MINIMAL}${many}\n`);
    expect(code).toBe('SCENARIO_INVALID');
    expect(problems).toHaveLength(20);
    try {
      parseScenario(`${MINIMAL}${many}\n`, 'bad.yaml');
    } catch (err) {
      expect((err as PullbenchError).details.problemCount).toBe(60);
      expect((err as Error).message.split('\n').length).toBeLessThanOrEqual(22);
    }
  });

  it('refuses a binary file in one short error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-scn-bin-'));
    try {
      const file = join(dir, 'random.yaml');
      writeFileSync(file, Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + 13) % 256)));
      const err = await loadScenario(file).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SCENARIO_INVALID', details: { problemCount: 1 } });
      expect((err as Error).message.length).toBeLessThan(300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses text that is not UTF-8', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-scn-latin1-'));
    try {
      const file = join(dir, 'latin1.yaml');
      writeFileSync(file, Buffer.concat([Buffer.from(MINIMAL), Buffer.from([0x23, 0x20, 0xe9, 0x74, 0xe9, 0x0a])]));
      await expect(loadScenario(file)).rejects.toMatchObject({ code: 'SCENARIO_INVALID', details: { problemCount: 1 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('${env:NAME} interpolation', () => {
  const withSecret = `${MINIMAL}registry:\n  auth:\n    users: [{ username: ci, password: "\${env:PB_PASS}" }]\n`;

  it('fills values from the environment and marks them for redaction', () => {
    const loaded = parseScenario(withSecret, 's.yaml', { env: { PB_PASS: 'hunter2-secret' } });
    expect(loaded.scenario.registry.auth!.users[0]!.password).toBe('hunter2-secret');
    expect(JSON.stringify(redactScenario(loaded))).not.toContain('hunter2-secret');
    expect(JSON.stringify(redactScenario(loaded))).toContain('***');
  });

  it('names a missing variable with its position', () => {
    const { code, problems } = problemsOf(withSecret, { env: {} });
    expect(code).toBe('SCENARIO_ENV_MISSING');
    expect(problems[0]).toMatchObject({ path: 'registry.auth.users[0].password', line: 12 });
    expect(problems[0]!.message).toContain('PB_PASS');
  });

  it('redacts a password shorter than 4 characters in its field, without mangling words that contain it', () => {
    const loaded = parseScenario(withSecret, 's.yaml', { env: { PB_PASS: 'y' } });
    const redacted = redactValues({ arm: 'Always/direct/cold', ...(redactScenario(loaded) as object) }, loaded.secretValues);
    expect(redacted.arm).toBe('Always/direct/cold');
    expect(JSON.stringify(redacted)).toContain('"password":"***"');
  });

  it('never echoes a secret value in an error', () => {
    const bad = withSecret.replace('password: "${env:PB_PASS}"', 'password: "${env:PB_PASS}", extra: 1');
    try {
      parseScenario(bad, 's.yaml', { env: { PB_PASS: 'hunter2-secret' } });
      expect.unreachable();
    } catch (err) {
      expect(JSON.stringify(err)).not.toContain('hunter2');
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('--set overrides', () => {
  it('replaces scalars, lists and nested list entries', () => {
    const { scenario } = parseScenario(MINIMAL, 's.yaml', {
      set: ['cluster.nodes=7', 'matrix.pullPolicy=[Always, Never]', 'rollouts[0].deployment.replicas=9'],
    });
    expect(scenario.cluster.nodes).toBe(7);
    expect(scenario.matrix.pullPolicy).toEqual(['Always', 'Never']);
    expect(scenario.rollouts[0]!.deployment!.replicas).toBe(9);
  });

  it('blames the --set argument for a bad value', () => {
    const { problems } = problemsOf(MINIMAL, { set: ['cluster.nodes=lots'] });
    expect(problems).toEqual([expect.objectContaining({ path: 'cluster.nodes', set: 'cluster.nodes=lots' })]);
  });

  it('blames the later of two flags that set the same path', () => {
    const { problems } = problemsOf(MINIMAL, { set: ['repeat=1', 'repeat=0'] });
    expect(problems).toEqual([expect.objectContaining({ path: 'repeat', set: 'repeat=0' })]);
  });

  it('blames the flag, not the file, for a key only the flag added', () => {
    const { problems } = problemsOf(MINIMAL, { set: ['foo.bar=1'] });
    expect(problems).toEqual([expect.objectContaining({ path: 'foo', set: 'foo.bar=1', line: 0 })]);
  });

  it('refuses a list index past the end, blaming the flag', () => {
    const { code, problems } = problemsOf(MINIMAL, { set: ['rollouts[5].name=x'] });
    expect(code).toBe('SCENARIO_INVALID');
    expect(problems).toEqual([expect.objectContaining({ path: 'rollouts[5].name', set: 'rollouts[5].name=x' })]);
  });

  it('appends with the index one past the end', () => {
    const { scenario } = parseScenario(MINIMAL, 's.yaml', { set: ['rollouts[1]={ name: two, deployment: { image: demo/app:v1 } }'] });
    expect(scenario.rollouts.map((r) => r.name)).toEqual(['app', 'two']);
  });

  it.each(['__proto__.x=1', 'constructor=1', 'cluster.prototype=1'])('refuses the prototype key in %s', (arg) => {
    const { code, problems } = problemsOf(MINIMAL, { set: [arg] });
    expect(code).toBe('SCENARIO_INVALID');
    expect(problems.every((p) => p.set === arg)).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('rejects a malformed --set', () => {
    const { code } = problemsOf(MINIMAL, { set: ['no-equals-sign'] });
    expect(code).toBe('SCENARIO_INVALID');
  });
});

describe('arm patterns', () => {
  it('match by segment with * and trailing wildcards', () => {
    expect(armMatches('IfNotPresent/mirror', 'IfNotPresent/mirror/cold')).toBe(true);
    expect(armMatches('*/mirror/warm', 'Always/mirror/warm')).toBe(true);
    expect(armMatches('*/mirror/warm', 'Always/mirror/cold')).toBe(false);
    expect(armMatches('Always', 'IfNotPresent/direct/cold')).toBe(false);
  });

  it('fold pre-pulled into a warm cache', () => {
    const arms = expandArms({ matrix: { pullPolicy: ['IfNotPresent'], topology: ['pre-pulled'], cache: ['cold', 'warm'] } });
    expect(arms.map((a) => a.name)).toEqual(['IfNotPresent/pre-pulled/warm']);
  });
});

describe('loading from disk', () => {
  it('resolves the scenario directory for relative paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-scn-'));
    try {
      writeFileSync(join(dir, 's.yaml'), MINIMAL);
      const loaded = await loadScenario(join(dir, 's.yaml'));
      expect(loaded.dir).toBe(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
