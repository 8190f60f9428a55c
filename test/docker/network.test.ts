import { describe, expect, it } from 'vitest';
import { ensureDockerNetwork, KIND_NETWORK_OPTIONS, type DockerCli } from '../../src/docker/network.js';
import { isPullbenchError } from '../../src/errors.js';
import { pendingCleanups, runAllCleanups } from '../../src/util/cleanup.js';

/** A docker CLI stand-in holding a set of networks; `attached` networks refuse `rm` the way dockerd does. */
function fakeDocker(existing: string[] = [], attached: string[] = []): DockerCli & { calls: string[]; networks: Set<string> } {
  const networks = new Set(existing);
  const calls: string[] = [];
  const fail = (stderr: string): Promise<never> => Promise.reject(Object.assign(new Error('exit 1'), { stderr }));
  const cli = async (args: string[]): Promise<{ stdout: string; stderr: string }> => {
    calls.push(args.join(' '));
    const name = args[args.length - 1]!;
    if (args[1] === 'inspect') return networks.has(name) ? { stdout: `${name}\n`, stderr: '' } : fail(`Error: No such network: ${name}`);
    if (args[1] === 'create') {
      if (networks.has(name)) return fail(`Error response from daemon: network with name ${name} already exists`);
      networks.add(name);
      return { stdout: 'id\n', stderr: '' };
    }
    if (args[1] === 'rm') {
      if (attached.includes(name)) return fail(`Error response from daemon: error while removing network: network ${name} id 1 has active endpoints`);
      if (!networks.delete(name)) return fail(`Error: No such network: ${name}`);
      return { stdout: `${name}\n`, stderr: '' };
    }
    return fail('unexpected');
  };
  return Object.assign(cli, { calls, networks });
}

describe('the Docker network of a k3s or kind run', () => {
  it('creates a missing network and removes it again when the run ends', async () => {
    const docker = fakeDocker();
    {
      await using net = await ensureDockerNetwork('pullbench', { docker });
      expect(net.created).toBe(true);
      expect(docker.networks.has('pullbench')).toBe(true);
    }
    expect(docker.networks.has('pullbench')).toBe(false);
    expect(docker.calls.filter((c) => c.startsWith('network rm'))).toEqual(['network rm pullbench']);
  });

  it('leaves a network that existed before alone', async () => {
    const docker = fakeDocker(['kind']);
    const net = await ensureDockerNetwork('kind', { docker });
    expect(net.created).toBe(false);
    expect(await net.remove()).toBe('not-ours');
    expect(docker.networks.has('kind')).toBe(true);
    expect(docker.calls.some((c) => c.startsWith('network rm'))).toBe(false);
  });

  it('removes it when the run fails, too (dispose on the error path), and only once', async () => {
    const docker = fakeDocker();
    const err = await (async () => {
      await using _net = await ensureDockerNetwork('pullbench', { docker });
      throw new Error('the cluster did not start');
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe('the cluster did not start');
    expect(docker.networks.has('pullbench')).toBe(false);
    expect(docker.calls.filter((c) => c.startsWith('network rm'))).toHaveLength(1);
  });

  it('removes it on Ctrl-C through the process cleanup, and not again afterwards', async () => {
    const docker = fakeDocker();
    const net = await ensureDockerNetwork('pullbench', { docker });
    expect(pendingCleanups()).toContain('docker network pullbench');
    expect(await runAllCleanups()).toEqual([]);
    expect(docker.networks.has('pullbench')).toBe(false);
    expect(await net.remove()).toBe('removed');
    expect(docker.calls.filter((c) => c.startsWith('network rm'))).toHaveLength(1);
    expect(pendingCleanups()).not.toContain('docker network pullbench');
  });

  it('keeps a network it created while containers still use it (a kind cluster kept with keep: true)', async () => {
    const docker = fakeDocker([], ['kind']);
    const net = await ensureDockerNetwork('kind', { docker, driverOptions: KIND_NETWORK_OPTIONS });
    expect(docker.calls).toContain('network create --driver bridge -o com.docker.network.bridge.enable_ip_masquerade=true kind');
    expect(await net.remove()).toBe('kept');
    expect(pendingCleanups()).not.toContain('docker network kind');
  });

  it('treats a network created concurrently by someone else as theirs', async () => {
    const docker = fakeDocker();
    const racing: DockerCli = async (args) => {
      if (args[1] === 'create') docker.networks.add('kind');
      return docker(args);
    };
    const net = await ensureDockerNetwork('kind', { docker: racing });
    expect(net.created).toBe(false);
    expect(await net.remove()).toBe('not-ours');
  });

  it('says what went wrong when the network cannot be created', async () => {
    const docker: DockerCli = async (args) => {
      if (args[1] === 'inspect') throw Object.assign(new Error('exit 1'), { stderr: 'Error: No such network: pullbench' });
      throw Object.assign(new Error('exit 1'), { stderr: 'Error response from daemon: could not find an available, non-overlapping IPv4 address pool' });
    };
    const err = await ensureDockerNetwork('pullbench', { docker }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'CLUSTER_ERROR')).toBe(true);
    expect((err as Error).message).toContain('non-overlapping');
  });
});
