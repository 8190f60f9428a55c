import { describe, expect, it } from 'vitest';
import { proxyForUrl, useProxy } from '../../src/net/proxy-env.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { freePort } from '../../src/util/ports.js';

describe("Go's ProxyFromEnvironment rules (golang.org/x/net/http/httpproxy)", () => {
  it.each([
    ['registry.pullbench.internal', '5000', '', true],
    ['localhost', '5000', '', false],
    ['127.0.0.1', '5000', '', false],
    ['127.9.9.9', '80', '', false],
    ['r.example.com', '443', 'example.com', false],
    ['example.com', '443', 'example.com', false],
    ['example.com', '443', '.example.com', true],
    ['r.example.com', '443', '*.example.com', false],
    ['r.example.com', '443', 'example.com:80', true],
    ['r.example.com', '80', 'example.com:80', false],
    ['10.1.2.3', '80', '10.0.0.0/8', false],
    ['11.1.2.3', '80', '10.0.0.0/8', true],
    ['10.1.2.3', '80', '10.1.2.3', false],
    ['anything', '80', '*', false],
    ['notexample.com', '80', 'example.com', true],
  ])('%s:%s with NO_PROXY=%j -> proxied %s', (host, port, noProxy, proxied) => {
    expect(useProxy(host, port, noProxy)).toBe(proxied);
  });

  it('takes HTTP_PROXY for http, HTTPS_PROXY for https, and a bare host:port as http://', () => {
    const env = { HTTP_PROXY: '127.0.0.1:3128', HTTPS_PROXY: 'http://u:p@127.0.0.1:3129' };
    expect(proxyForUrl(new URL('http://r.example:5000/v2/'), env)?.href).toBe('http://127.0.0.1:3128/');
    expect(proxyForUrl(new URL('https://r.example/v2/'), env)?.host).toBe('127.0.0.1:3129');
    expect(proxyForUrl(new URL('http://127.0.0.1:5000/v2/'), env)).toBeUndefined();
  });
});

const scenario = (proxy: string): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: proxied }
mirror: {}
proxy: ${proxy}
links: { proxy: { bandwidth: 200Mbit, latency: 2ms } }
images: [{ ref: demo/app:v1, synth: { layers: [200kB] } }]
cluster: { nodes: 2 }
rollouts: [{ name: app, daemonSet: { image: demo/app:v1 }, timeout: 30s }]
matrix: { topology: [direct, mirror] }
`;

describe('the proxy hop, through an emulated cluster', { timeout: 120_000 }, () => {
  it('sends every pull through the authenticating proxy, by the names only it resolves; the password is in no result', async () => {
    const loaded = parseScenario(scenario('{ auth: { username: corp, password: "${env:PROXY_PASSWORD}" } }'), 'p.yaml', { env: { PROXY_PASSWORD: 'hunter2-proxy-secret' } });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    for (const arm of results.arms) {
      const rep = arm.repetitions[0]!;
      expect(arm.aggregate.failures.total).toBe(0);
      expect(rep.proxy!.authRequired).toBe(0);
      expect(rep.proxy!.forwarded).toBeGreaterThan(0);
    }
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!.repetitions[0]!;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!.repetitions[0]!;
    expect(Object.keys(direct.proxy!.byTarget)).toEqual(['registry.pullbench.internal:5000']);
    expect(Object.keys(mirror.proxy!.byTarget)).toContain('mirror.pullbench.internal:5000');
    expect(JSON.stringify(results)).not.toContain('hunter2-proxy-secret');
  });

  it('noProxy: the mirror is reached directly, the registry still through the proxy', async () => {
    const { results } = await runScenario(parseScenario(scenario('{ noProxy: [mirror] }'), 'p.yaml'), { writeOutputs: false });
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;
    expect(mirror.aggregate.failures.total).toBe(0);
    expect(Object.keys(mirror.repetitions[0]!.proxy!.byTarget)).not.toContain('mirror.pullbench.internal:5000');
    expect(mirror.aggregate.requests.mirrorBlobGet).toBeGreaterThan(0);
  });

  it("proxy variables in the pod's env change nothing for pulls: the runtime pulls with its own (the node's) proxy", async () => {
    // Were the pod's env the pull's, NO_PROXY=* would send the pull around the proxy to a name only the proxy
    // resolves, and HTTP_PROXY to a port nobody listens on: every pull would fail. kubelet passes the runtime
    // image, auth and sandbox config only (CRI PullImageRequest), so every pull goes through the node's proxy.
    const closed = await freePort();
    const env = `env: [{ name: HTTP_PROXY, value: "http://127.0.0.1:${closed}" }, { name: http_proxy, value: "http://127.0.0.1:${closed}" }, { name: NO_PROXY, value: "*" }]`;
    const text = scenario('{}').replace('daemonSet: { image: demo/app:v1 }', `daemonSet: { image: demo/app:v1, ${env} }`);
    expect(text).toContain('NO_PROXY');
    const { results } = await runScenario(parseScenario(text, 'p.yaml'), { writeOutputs: false });
    for (const arm of results.arms) {
      const rep = arm.repetitions[0]!;
      expect(rep.pods.map((p) => p.outcome)).toEqual(['ready', 'ready']);
      expect(arm.aggregate.failures.total).toBe(0);
      expect(rep.proxy!.forwarded).toBeGreaterThan(0);
    }
    expect(Object.keys(results.arms.find((a) => a.arm.topology === 'direct')!.repetitions[0]!.proxy!.byTarget)).toEqual(['registry.pullbench.internal:5000']);
  });

  it('a proxy outage (target proxy, refuse) fails pulls as reset or refused, and they recover', async () => {
    const text = scenario('{}').replace('matrix: { topology: [direct, mirror] }', 'faults: [{ target: proxy, at: 0s, for: 2s, kind: refuse }]');
    const { results } = await runScenario(parseScenario(text, 'p.yaml'), { writeOutputs: false });
    const arm = results.arms[0]!;
    expect(arm.aggregate.failures.byCause?.resetOrRefused).toBeGreaterThan(0);
    expect(arm.aggregate.recovery?.notRecovered).toBe(0);
  });
});

