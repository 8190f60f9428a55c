import { describe, expect, it } from 'vitest';
import { diagnose, renderDoctor, type Capability, type DoctorProbes, type DoctorReport } from '../../src/docker/doctor.js';

type Answers = Record<string, { ok: boolean; stdout?: string; stderr?: string }>;

function probes(opts: { tools: string[]; answers?: Answers; files?: Record<string, string>; env?: NodeJS.ProcessEnv; root?: boolean }): DoctorProbes {
  return {
    tool: (name) => (opts.tools.includes(name) ? `/usr/bin/${name}` : undefined),
    run: async (command, args) => {
      const key = [command, ...args].join(' ');
      const hit = Object.entries(opts.answers ?? {}).find(([prefix]) => key.startsWith(prefix));
      return { ok: hit?.[1].ok ?? false, stdout: hit?.[1].stdout ?? '', stderr: hit?.[1].stderr ?? '' };
    },
    readFile: (path) => opts.files?.[path],
    env: opts.env ?? {},
    isRoot: opts.root ?? true,
    home: '/home/u',
  };
}

function find(list: Capability[], name: string): Capability {
  const c = list.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name}`);
  return c;
}

const dockerUp: Answers = { 'docker version': { ok: true, stdout: '20.10.24+dfsg1\n' } };

describe('doctor decisions', () => {
  it('on a bare machine: only the in-process pieces can run, each other says why', async () => {
    const r: DoctorReport = await diagnose(probes({ tools: [], root: false }));
    expect(r.drivers.filter((c) => c.available).map((c) => c.name)).toEqual(['emulated']);
    expect(find(r.drivers, 'kind').reasons.join(' ')).toMatch(/kind not found/);
    expect(find(r.drivers, 'k3s').reasons.join(' ')).toMatch(/docker CLI not found/);
    expect(find(r.drivers, 'kubeconfig').reasons.join(' ')).toMatch(/no kubeconfig .*\/home\/u\/.kube\/config/);
    expect(find(r.registryProviders, 'distribution').available).toBe(false);
    expect(find(r.runtimes, 'containerd').reasons).toEqual([
      'containerd and ctr not found (apt-get install -y containerd)',
      'containerd needs root (mounts, namespaces)',
    ]);
  });

  it('says the docker daemon is unreachable, naming DOCKER_HOST', async () => {
    const r = await diagnose(probes({ tools: ['docker'], env: { DOCKER_HOST: 'unix:///tmp/x.sock' }, answers: { 'docker version': { ok: false, stderr: 'Cannot connect' } } }));
    expect(find(r.registryProviders, 'container').reasons).toEqual(['docker daemon unreachable at unix:///tmp/x.sock: Cannot connect']);
  });

  it('with Docker and kind: kind can run, with versions, and a note when no node image is local', async () => {
    const r = await diagnose(probes({ tools: ['docker', 'kind'], answers: { ...dockerUp, 'kind version': { ok: true, stdout: 'kind v0.24.0 go1.22.6 linux/amd64' }, 'docker image ls': { ok: true, stdout: '' } } }));
    const kind = find(r.drivers, 'kind');
    expect(kind.available).toBe(true);
    expect(kind.versions).toEqual({ docker: '20.10.24+dfsg1', kind: '0.24.0' });
    expect(kind.notes.join(' ')).toMatch(/no kindest\/node image present locally/);
    expect(find(r.drivers, 'k3s').notes.join(' ')).toMatch(/rancher\/k3s/);
  });

  it('points at the locally built registry image when registry:2 is absent', async () => {
    const r = await diagnose(
      probes({ tools: ['docker'], answers: { ...dockerUp, 'docker image inspect --format {{.Id}} pullbench/registry:2-local': { ok: true, stdout: 'sha256:1' } } }),
    );
    const c = find(r.registryProviders, 'container');
    expect(c.available).toBe(true);
    expect(c.notes[0]).toMatch(/registry:2 not present locally.*pullbench\/registry:2-local is present/);
  });

  it('checks the kubeconfig context and asks the cluster for its version', async () => {
    const kubeconfig = 'apiVersion: v1\ncurrent-context: kind-a\ncontexts:\n- name: kind-a\n- name: prod\n';
    const files = { '/k/config': kubeconfig };
    const ok = await diagnose(
      probes({ tools: ['kubectl'], files, env: { KUBECONFIG: '/k/config' }, answers: { 'kubectl version': { ok: true, stdout: '{"serverVersion": {"major":"1","gitVersion": "v1.31.0"}}' } } }),
    );
    expect(find(ok.drivers, 'kubeconfig')).toMatchObject({ available: true, versions: { kubernetes: 'v1.31.0' }, notes: ['context kind-a', expect.stringMatching(/pullbench run: registry provider external/)] });
    const missing = await diagnose(probes({ tools: [], files, env: { KUBECONFIG: '/k/config' } }), { context: 'staging' });
    expect(find(missing.drivers, 'kubeconfig').reasons[0]).toMatch(/context "staging" is not in the kubeconfig \(has: kind-a, prod\)/);
    const down = await diagnose(probes({ tools: ['kubectl'], files, env: { KUBECONFIG: '/k/config' } }));
    expect(find(down.drivers, 'kubeconfig').reasons[0]).toMatch(/did not answer/);
  });

  it('renders yes/no lines with reasons', async () => {
    const text = renderDoctor(await diagnose(probes({ tools: ['docker-registry'], answers: { 'docker-registry --version': { ok: true, stdout: 'docker-registry github.com/docker/distribution 2.8.2+ds1' } } })));
    expect(text).toContain('yes  distribution (distribution 2.8.2+ds1)');
    expect(text).toContain('no   kind');
  });
});
