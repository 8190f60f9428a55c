import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { findTool } from '../util/tools.js';
import { LOCAL_REGISTRY_IMAGE } from './registry-image.js';
import { DEFAULT_K3S_IMAGE } from './images.js';

/** What doctor may ask of the machine; injected so that its decisions are unit-tested. */
export interface DoctorProbes {
  tool(name: string): string | undefined;
  run(command: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; stdout: string; stderr: string }>;
  readFile(path: string): string | undefined;
  env: NodeJS.ProcessEnv;
  isRoot: boolean;
  home: string;
}

export interface Capability {
  name: string;
  available: boolean;
  /** Versions found, e.g. { docker: "20.10.24", kind: "0.24.0" }. */
  versions: Record<string, string>;
  /** Why it cannot run (empty when available). */
  reasons: string[];
  /** Things worth knowing even when it can run. */
  notes: string[];
}

export interface DoctorReport {
  drivers: Capability[];
  registryProviders: Capability[];
  runtimes: Capability[];
}

export interface DoctorOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Image the `container` provider would run (registry:2 unless told). */
  registryImage?: string | undefined;
}

const firstVersion = (text: string): string | undefined => /v?(\d+\.\d+\.\d+[^\s,"]*)/.exec(text)?.[1];

function capability(name: string, versions: Record<string, string>, reasons: string[], notes: string[] = []): Capability {
  return { name, available: reasons.length === 0, versions, reasons, notes };
}

interface DockerState {
  reachable: boolean;
  version?: string;
  why?: string;
}

async function dockerState(p: DoctorProbes): Promise<DockerState> {
  if (!p.tool('docker')) return { reachable: false, why: 'docker CLI not found (apt-get install -y docker.io)' };
  const r = await p.run('docker', ['version', '--format', '{{.Server.Version}}'], 5000);
  if (!r.ok || r.stdout.trim() === '') {
    const where = p.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    return { reachable: false, why: `docker daemon unreachable at ${where}${r.stderr ? `: ${r.stderr.trim().split('\n')[0]}` : ''}` };
  }
  return { reachable: true, version: r.stdout.trim() };
}

async function localImages(p: DoctorProbes, repo: string): Promise<string[]> {
  const r = await p.run('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repo], 5000);
  return r.ok ? r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '' && !s.endsWith(':<none>')) : [];
}

async function imagePresent(p: DoctorProbes, image: string): Promise<boolean> {
  return (await p.run('docker', ['image', 'inspect', '--format', '{{.Id}}', image], 5000)).ok;
}

function kubeconfigPaths(p: DoctorProbes, explicit?: string): string[] {
  if (explicit) return [explicit];
  if (p.env.KUBECONFIG) return p.env.KUBECONFIG.split(delimiter).filter((s) => s !== '');
  return [join(p.home, '.kube', 'config')];
}

async function kubeconfigDriver(p: DoctorProbes, opts: DoctorOptions): Promise<Capability> {
  const reasons: string[] = [];
  const notes: string[] = [];
  const versions: Record<string, string> = {};
  const paths = kubeconfigPaths(p, opts.kubeconfig);
  const texts = paths.map((path) => ({ path, text: p.readFile(path) }));
  const found = texts.filter((t) => t.text !== undefined);
  if (found.length === 0) {
    reasons.push(`no kubeconfig (looked at ${paths.join(', ')}); pass --kubeconfig or set KUBECONFIG`);
    return capability('kubeconfig', versions, reasons);
  }
  const contexts = new Set<string>();
  let current: string | undefined;
  for (const { path, text } of found) {
    try {
      const doc = parseYaml(text ?? '') as { contexts?: Array<{ name?: string }>; 'current-context'?: string } | null;
      for (const c of doc?.contexts ?? []) if (c.name) contexts.add(c.name);
      current ??= doc?.['current-context'] || undefined;
    } catch {
      reasons.push(`${path} is not valid YAML`);
    }
  }
  const context = opts.context ?? current;
  if (!context) reasons.push('the kubeconfig has no current-context; pass --context');
  else if (!contexts.has(context)) reasons.push(`context ${JSON.stringify(context)} is not in the kubeconfig (has: ${[...contexts].join(', ') || 'none'})`);
  else notes.push(`context ${context}`);
  if (reasons.length === 0 && p.tool('kubectl')) {
    const args = ['version', '-o', 'json', '--request-timeout=5s', '--context', context ?? ''];
    if (opts.kubeconfig) args.push('--kubeconfig', opts.kubeconfig);
    const r = await p.run('kubectl', args, 8000);
    const server = /"serverVersion"[\s\S]*?"gitVersion":\s*"([^"]+)"/.exec(r.stdout)?.[1];
    if (server) versions.kubernetes = server;
    else reasons.push(`cluster of context ${context ?? ''} did not answer /version`);
  } else if (reasons.length === 0) {
    notes.push('kubectl not found: the API server was not contacted');
  }
  return capability('kubeconfig', versions, reasons, [...notes, RUN_NEEDS.kubeconfig]);
}

// What `pullbench run` accepts with each real driver (checked by the scenario schema), so doctor and run agree.
const RUN_NEEDS = {
  kind: 'pullbench run: registry (and mirror) provider container, on the kind network',
  k3s: 'pullbench run: registry (and mirror) provider container, cluster.nodes: 1',
  kubeconfig: 'pullbench run: registry provider external at a URL the nodes reach; no mirror topology',
} as const;

/** Decides, from probes only, which drivers, registry providers and runtimes can run here, and why not. */
export async function diagnose(p: DoctorProbes, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const docker = await dockerState(p);
  const dockerVersions: Record<string, string> = docker.version ? { docker: docker.version } : {};
  const dockerReasons = docker.reachable ? [] : [docker.why ?? 'docker unavailable'];

  // kind
  const kindReasons = [...dockerReasons];
  const kindVersions = { ...dockerVersions };
  const kindNotes: string[] = [];
  if (!p.tool('kind')) kindReasons.unshift('kind not found on PATH (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)');
  else {
    const v = firstVersion((await p.run('kind', ['version'], 5000)).stdout);
    if (v) kindVersions.kind = v;
  }
  if (docker.reachable) {
    const nodes = await localImages(p, 'kindest/node');
    if (nodes.length === 0) kindNotes.push('no kindest/node image present locally: `kind create cluster` will pull one (needs network)');
    else kindVersions.nodeImage = nodes[0] ?? '';
  }

  // k3s
  const k3sReasons = [...dockerReasons];
  const k3sNotes: string[] = [];
  if (docker.reachable) {
    const images = await localImages(p, 'rancher/k3s');
    if (images.length === 0) k3sNotes.push(`no rancher/k3s image present locally: ${DEFAULT_K3S_IMAGE} will be pulled (needs network)`);
  }
  if (docker.reachable && !p.isRoot) k3sNotes.push('k3s runs privileged; rootless Docker may refuse it');

  // registry providers
  const distBin = p.tool('docker-registry');
  const distVersions: Record<string, string> = {};
  if (distBin) {
    const v = firstVersion((await p.run('docker-registry', ['--version'], 5000)).stdout);
    if (v) distVersions.distribution = v;
  }
  const containerReasons = [...dockerReasons];
  const containerNotes: string[] = [];
  if (docker.reachable) {
    const wanted = opts.registryImage ?? 'registry:2';
    if (!(await imagePresent(p, wanted))) {
      const local = await imagePresent(p, LOCAL_REGISTRY_IMAGE);
      containerNotes.push(
        `image ${wanted} not present locally: it will be pulled (needs network)` +
          (local ? `; ${LOCAL_REGISTRY_IMAGE} is present (use it with --registry-image)` : ''),
      );
    }
  }

  // runtimes
  const ctrdReasons: string[] = [];
  const ctrdVersions: Record<string, string> = {};
  if (!p.tool('containerd') || !p.tool('ctr')) ctrdReasons.push('containerd and ctr not found (apt-get install -y containerd)');
  else {
    const v = firstVersion((await p.run('containerd', ['--version'], 5000)).stdout);
    if (v) ctrdVersions.containerd = v;
  }
  if (!p.isRoot) ctrdReasons.push('containerd needs root (mounts, namespaces)');

  return {
    drivers: [
      capability('emulated', {}, []),
      capability('kind', kindVersions, kindReasons, [...kindNotes, RUN_NEEDS.kind]),
      capability('k3s', dockerVersions, k3sReasons, [...k3sNotes, RUN_NEEDS.k3s]),
      await kubeconfigDriver(p, opts),
    ],
    registryProviders: [
      capability('embedded', {}, []),
      capability('distribution', distVersions, distBin ? [] : ['docker-registry not found (apt-get install -y docker-registry)']),
      capability('container', dockerVersions, containerReasons, containerNotes),
      capability('external', {}, [], ['needs the URL of a registry you run']),
    ],
    runtimes: [capability('embedded', {}, []), capability('containerd', ctrdVersions, ctrdReasons)],
  };
}

/** The probes of this machine. */
export function machineProbes(env: NodeJS.ProcessEnv = process.env): DoctorProbes {
  return {
    tool: (name) => findTool(name),
    run: (command, args, timeoutMs) =>
      new Promise((resolve) => {
        const bin = findTool(command) ?? command;
        execFile(bin, args, { timeout: timeoutMs, env, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) =>
          resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
        );
      }),
    readFile: (path) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined),
    env,
    isRoot: process.getuid?.() === 0,
    home: homedir(),
  };
}

/** Text rendering: one line per capability, with versions, reasons and notes. */
export function renderDoctor(report: DoctorReport): string {
  const section = (title: string, caps: Capability[]): string[] => [
    title,
    ...caps.flatMap((c) => {
      const v = Object.entries(c.versions).map(([k, val]) => `${k} ${val}`).join(', ');
      return [
        `  ${c.available ? 'yes' : 'no '}  ${c.name}${v ? ` (${v})` : ''}`,
        ...c.reasons.map((r) => `         - ${r}`),
        ...c.notes.map((n) => `         note: ${n}`),
      ];
    }),
  ];
  return [...section('Cluster drivers', report.drivers), ...section('Registry providers', report.registryProviders), ...section('Runtimes', report.runtimes)].join('\n');
}
