import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { connectSteps, kindConfigYaml, nodeRegistrySteps } from '../../src/cluster/drivers/kind/config.js';
import { errorCodeOf } from '../helpers/error-code.js';
import {
  coldCacheDaemonSet,
  coldCacheScript,
  daemonSetManifest,
  deploymentManifest,
  dockerConfigSecret,
  namespaceManifest,
} from '../../src/cluster/kube/manifests.js';
import { parseHostsToml } from '../../src/oci/hosts.js';
import { hostsToml, registriesYaml } from '../../src/cluster/kube/registry-routes.js';


describe('kind cluster config', () => {
  const yaml = kindConfigYaml({ name: 'pullbench', workers: 2, nodeImage: 'kindest/node:v1.31.0' });
  const cfg = parse(yaml) as {
    kind: string;
    apiVersion: string;
    containerdConfigPatches: string[];
    nodes: Array<{ role: string; image: string; extraMounts?: unknown }>;
  };

  it('switches containerd to hosts.toml via config_path', () => {
    expect(cfg.kind).toBe('Cluster');
    expect(cfg.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(cfg.containerdConfigPatches).toEqual(['[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"']);
  });

  it('makes a control plane and the workers from the node image, mounting nothing from the host (hosts.toml is written into the nodes)', () => {
    expect(cfg.nodes.map((n) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
    for (const n of cfg.nodes) {
      expect(n.image).toBe('kindest/node:v1.31.0');
      expect(n.extraMounts).toBeUndefined();
    }
  });

  it('rejects a cluster name kind cannot use', () => {
    expect(errorCodeOf(() => kindConfigYaml({ name: 'Bad_Name', workers: 0 }))).toBe('INVALID_ARGUMENT');
  });
});

describe("kind's local-registry steps after the cluster exists", () => {
  const routes = [
    { host: 'pullbench-registry:5000', endpoint: 'http://pullbench-registry:5000' },
    { host: 'via-mirror.pullbench.test:5000', endpoint: 'http://pullbench-registry:5000', mirrors: ['http://pullbench-mirror:5000'] },
  ];

  it('writes certs.d/<host>/hosts.toml into every node with docker exec, pointing at names on the kind network', () => {
    const steps = nodeRegistrySteps(['pb-control-plane', 'pb-worker'], routes);
    expect(steps.map((s) => s.args.join(' '))).toEqual([
      'exec pb-control-plane mkdir -p /etc/containerd/certs.d/pullbench-registry:5000',
      'exec -i pb-control-plane cp /dev/stdin /etc/containerd/certs.d/pullbench-registry:5000/hosts.toml',
      'exec pb-control-plane mkdir -p /etc/containerd/certs.d/via-mirror.pullbench.test:5000',
      'exec -i pb-control-plane cp /dev/stdin /etc/containerd/certs.d/via-mirror.pullbench.test:5000/hosts.toml',
      'exec pb-worker mkdir -p /etc/containerd/certs.d/pullbench-registry:5000',
      'exec -i pb-worker cp /dev/stdin /etc/containerd/certs.d/pullbench-registry:5000/hosts.toml',
      'exec pb-worker mkdir -p /etc/containerd/certs.d/via-mirror.pullbench.test:5000',
      'exec -i pb-worker cp /dev/stdin /etc/containerd/certs.d/via-mirror.pullbench.test:5000/hosts.toml',
    ]);
    const mirrorToml = steps[3]!.input!;
    expect(parseHostsToml(mirrorToml, 'via-mirror.pullbench.test:5000').map((h) => h.url)).toEqual([
      'http://pullbench-mirror:5000/v2',
      'http://pullbench-registry:5000/v2',
    ]);
    // Never localhost or 127.0.0.1: inside a node that is the node itself.
    for (const s of steps) expect(s.input ?? '').not.toMatch(/localhost|127\.0\.0\.1/);
  });

  it('connects containers to the kind network by name', () => {
    expect(connectSteps(['pb-registry', 'pb-mirror'])).toEqual([
      { args: ['network', 'connect', 'kind', 'pb-registry'] },
      { args: ['network', 'connect', 'kind', 'pb-mirror'] },
    ]);
  });
});

describe('registry routes', () => {
  const route = { host: 'registry.pullbench.test:5000', endpoint: 'http://pullbench-registry:5000', mirrors: ['http://pullbench-mirror:5000'] };

  it('writes hosts.toml with the mirror first and the registry as server', () => {
    expect(hostsToml(route)).toBe(
      ['server = "http://pullbench-registry:5000"', '', '[host."http://pullbench-mirror:5000"]', '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
  });

  it('gives a route without a mirror a host table of its own (containerd 1.6/1.7 ignore a hosts.toml without one)', () => {
    const direct = { host: 'pullbench-registry:5000', endpoint: 'http://pullbench-registry:5000' };
    expect(hostsToml(direct)).toBe(['server = "http://pullbench-registry:5000"', '', '[host."http://pullbench-registry:5000"]', '  capabilities = ["pull", "resolve"]', ''].join('\n'));
    expect(parseHostsToml(hostsToml(direct), direct.host).map((h) => h.url)[0]).toBe('http://pullbench-registry:5000/v2');
  });

  it('writes hosts.toml that the containerd hosts.toml reader orders mirror first, then the registry', () => {
    const hosts = parseHostsToml(hostsToml(route), route.host);
    expect(hosts.map((h) => [h.url, h.isMirror])).toEqual([
      ['http://pullbench-mirror:5000/v2', true],
      ['http://pullbench-registry:5000/v2', false],
    ]);
  });

  it('writes k3s registries.yaml with endpoints in order and auth per endpoint host', () => {
    const doc = parse(registriesYaml([{ ...route, credentials: { username: 'u', password: 'p' } }])) as {
      mirrors: Record<string, { endpoint: string[] }>;
      configs: Record<string, { auth: { username: string; password: string } }>;
    };
    expect(doc.mirrors['registry.pullbench.test:5000']?.endpoint).toEqual(['http://pullbench-mirror:5000', 'http://pullbench-registry:5000']);
    expect(doc.configs['pullbench-registry:5000']?.auth).toEqual({ username: 'u', password: 'p' });
    expect(parse(registriesYaml([{ host: 'docker.io', endpoint: 'https://registry-1.docker.io' }]))).toEqual({
      mirrors: { 'docker.io': { endpoint: ['https://registry-1.docker.io'] } },
    });
  });

  it('rejects hosts and endpoints that are not what containerd expects', () => {
    expect(errorCodeOf(() => hostsToml({ ...route, host: 'a b' }))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => hostsToml({ ...route, endpoint: 'ftp://x' }))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => registriesYaml([{ ...route, mirrors: ['not a url'] }]))).toBe('INVALID_ARGUMENT');
  });
});

describe('Kubernetes objects', () => {
  it('labels the namespace as pullbench-owned with the run id', () => {
    expect(namespaceManifest('pullbench-r1', 'r1').metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'pullbench', 'pullbench.io/run': 'r1' });
    expect(errorCodeOf(() => namespaceManifest('Not_OK', 'r1'))).toBe('INVALID_ARGUMENT');
  });

  it('writes pull secrets as kubernetes.io/dockerconfigjson', () => {
    const s = dockerConfigSecret('regcred', 'ns', [{ registry: 'registry.pullbench.test:5000', username: 'alice', password: 'pw' }]);
    expect(s.type).toBe('kubernetes.io/dockerconfigjson');
    const cfg = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    expect(cfg.auths['registry.pullbench.test:5000']).toEqual({ username: 'alice', password: 'pw', auth: Buffer.from('alice:pw').toString('base64') });
  });

  it('makes a Deployment with the arm pull policy, secrets and rolling update', () => {
    const d = deploymentManifest({
      name: 'web', namespace: 'ns', runId: 'r1', image: 'registry.pullbench.test:5000/bench/app:v1', pullPolicy: 'Always',
      pullSecrets: ['regcred'], replicas: 10, maxSurge: 2, maxUnavailable: 0,
    });
    expect(d.spec?.replicas).toBe(10);
    expect(d.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 2, maxUnavailable: 0 });
    const pod = d.spec?.template.spec;
    expect(pod?.containers[0]).toMatchObject({ image: 'registry.pullbench.test:5000/bench/app:v1', imagePullPolicy: 'Always' });
    expect(pod?.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(d.spec?.selector.matchLabels).toEqual(d.spec?.template.metadata?.labels && { 'pullbench.io/workload': 'web' });
  });

  it('makes a DaemonSet that tolerates every node', () => {
    const ds = daemonSetManifest({ name: 'agent', namespace: 'ns', runId: 'r1', image: 'app:v1', pullPolicy: 'IfNotPresent' });
    expect(ds.kind).toBe('DaemonSet');
    expect(ds.spec?.template.spec?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
  });
});

describe('the cold-cache DaemonSet', () => {
  const spec = {
    namespace: 'ns', runId: 'r1', helperImage: 'busybox:1.36', criSocket: '/run/containerd/containerd.sock',
    images: ['registry.pullbench.test:5000/bench/app:v1', 'registry.pullbench.test:5000/bench/app:v2'],
  };

  it('runs crictl rmi for every image through the node containerd socket, then reports ready', () => {
    const script = coldCacheScript(spec);
    expect(script).toContain('chroot /host crictl --runtime-endpoint unix:///run/containerd/containerd.sock rmi registry.pullbench.test:5000/bench/app:v1');
    expect(script).toContain('rmi registry.pullbench.test:5000/bench/app:v2');
    expect(script).toContain('touch /tmp/pullbench-cold-done');
  });

  it('is privileged, on every node, with the host root and the CRI socket mounted', () => {
    const ds = coldCacheDaemonSet(spec);
    const pod = ds.spec?.template.spec;
    expect(pod?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod?.containers[0]?.securityContext?.privileged).toBe(true);
    expect(pod?.containers[0]?.readinessProbe?.exec?.command).toEqual(['test', '-f', '/tmp/pullbench-cold-done']);
    expect(pod?.volumes).toEqual([
      { name: 'host', hostPath: { path: '/', type: 'Directory' } },
      { name: 'cri', hostPath: { path: '/run/containerd/containerd.sock', type: 'Socket' } },
    ]);
  });

  it('refuses image names that would break out of the shell command', () => {
    expect(errorCodeOf(() => coldCacheScript({ ...spec, images: ['app:v1; rm -rf /'] }))).toBe('INVALID_ARGUMENT');
  });
});
