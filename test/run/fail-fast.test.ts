import { describe, expect, it } from 'vitest';
import { renderSummary } from '../../src/report/render.js';
import { unfixableCause } from '../../src/rollout/pull-failure.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';

const scenario = (extra: string): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: wrong-password }
registry: { provider: embedded, auth: { type: token, users: [{ username: ci, password: right-password }] } }
images: [{ ref: private/app:v1, synth: { layers: [100kB] } }]
pullSecrets: [{ name: regcred, username: ci, password: wrong-password }]
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: private/app:v1, replicas: 4, imagePullSecrets: [regcred] }, timeout: 20s${extra} }
matrix: { pullPolicy: [Always] }
`;

describe('when every pod fails to pull with a wrong password', { timeout: 60_000 }, () => {
  it('ends the step early with the 401 cause, named in the summary', async () => {
    const { results } = await runScenario(parseScenario(scenario(''), 'wrong.yaml'), { writeOutputs: false });
    const [rep] = results.arms[0]!.repetitions;
    expect(rep!.steps[0]).toMatchObject({ completed: false, timedOut: false, failedFast: { cause: 'unauthorized (401)' } });
    expect(rep!.rolloutDurationMs).toBeLessThan(10_000);
    expect(renderSummary(results)).toContain('(401)');
  });

  it('waits out the timeout as kubelet would when failFast is off', async () => {
    const { results } = await runScenario(parseScenario(scenario('').replace('timeout: 20s', 'timeout: 3s, failFast: false'), 'wrong.yaml'), { writeOutputs: false });
    const [rep] = results.arms[0]!.repetitions;
    expect(rep!.steps[0]).toMatchObject({ timedOut: true });
    expect(rep!.steps[0]!.failedFast).toBeUndefined();
    expect(rep!.rolloutDurationMs).toBeGreaterThanOrEqual(3000);
  });
});

describe('which pull errors retrying cannot fix', () => {
  const image = 'Failed to pull image "127.0.0.1:5000/app:v1": rpc error: code = Unknown desc = failed to pull and unpack image "127.0.0.1:5000/app:v1": ';
  it.each([
    ['containerd 401', `${image}failed to resolve reference "127.0.0.1:5000/app:v1": unexpected status from HEAD request to http://127.0.0.1:5000/v2/app/manifests/v1: 401 Unauthorized`, 'unauthorized (401)'],
    ['containerd 403', `${image}failed to resolve reference "127.0.0.1:5000/app:v1": unexpected status from HEAD request to http://127.0.0.1:5000/v2/app/manifests/v1: 403 Forbidden`, 'forbidden (403)'],
    ['containerd 404', `${image}failed to resolve reference "127.0.0.1:5000/app:v1": 127.0.0.1:5000/app:v1: not found`, 'not found (404)'],
    ['embedded 401', `${image}manifest app:v1: the token endpoint refused (401); check the credentials`, 'unauthorized (401)'],
  ])('%s is unfixable', (_label, message, cause) => {
    expect(unfixableCause(message)?.cause).toBe(cause);
  });

  it.each([
    ['a rate limit', `${image}unexpected status from GET request: 429 Too Many Requests`],
    ['a server error', `${image}unexpected status from GET request: 503 Service Unavailable`],
    ['a refused connection', `${image}dial tcp 127.0.0.1:5000: connect: connection refused`],
    ['a 401 beside a 503 on another credential', `[${image}401 Unauthorized, ${image}503 Service Unavailable]`],
    ['kubelet QPS', 'Failed to pull image "x": pull QPS exceeded'],
  ])('%s is worth a retry', (_label, message) => {
    expect(unfixableCause(message)).toBeUndefined();
  });
});
