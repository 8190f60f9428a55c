import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { startContainerd } from '../../src/node/containerd/daemon.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { describeWithTools } from '../helpers/interop.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describeWithTools(['dockerd', 'docker'], 'a synthesised image runs under Docker (pulled from the embedded registry)', () => {
  let dockerd: StartedDockerd;
  let registry: StartedRegistry;
  let ref: string;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'runnable-image' });
    registry = await embeddedRegistry.start({});
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'synth/runnable', 'v1', { layers: [200_000, 50_000], seed: 'runnable' });
    // Docker treats 127.0.0.0/8 registries as insecure (plain HTTP) without configuration.
    ref = `${registry.host}/synth/runnable:v1`;
  });
  afterAll(async () => {
    await dockerd?.stop();
    await registry?.[Symbol.asyncDispose]();
  });

  it('docker pull, docker run: running after a second; docker stop ends it promptly with exit code 0', async () => {
    await dockerd.docker(['pull', ref]);
    const inspect = JSON.parse((await dockerd.docker(['image', 'inspect', ref])).stdout) as [{ Config: { Entrypoint: string[] }; RootFS: { Layers: string[] } }];
    expect(inspect[0].Config.Entrypoint).toEqual(['/pause']);
    expect(inspect[0].RootFS.Layers).toHaveLength(3);

    await dockerd.docker(['run', '-d', '--network', 'host', '--name', 'pause-test', ref]);
    await sleep(1000);
    const state = async (): Promise<{ Running: boolean; ExitCode: number; OOMKilled: boolean }> =>
      (JSON.parse((await dockerd.docker(['inspect', 'pause-test'])).stdout) as [{ State: { Running: boolean; ExitCode: number; OOMKilled: boolean } }])[0].State;
    expect(await state()).toMatchObject({ Running: true });
    const started = Date.now();
    // -t 10: a container that ignored SIGTERM would take the full 10 s and end with 137 (SIGKILL).
    await dockerd.docker(['stop', '-t', '10', 'pause-test']);
    const stopMs = Date.now() - started;
    expect(await state()).toMatchObject({ Running: false, ExitCode: 0 });
    expect(stopMs).toBeLessThan(3000);
  });

  it('runs the host platform of an amd64+arm64 index (the kind-mirror.yaml image shape)', async () => {
    const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'synth/multi', 'v1', {
      layers: [20_000],
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }],
      seed: 'runnable-multi',
    });
    const multi = `${registry.host}/synth/multi:v1`;
    await dockerd.docker(['run', '-d', '--network', 'host', '--name', 'pause-multi', multi]);
    await sleep(1000);
    const inspect = async (format: string): Promise<string> => (await dockerd.docker(['inspect', '--format', format, 'pause-multi'])).stdout.trim();
    expect(await inspect('{{.State.Running}}')).toBe('true');
    expect((await dockerd.docker(['image', 'inspect', '--format', '{{.Architecture}}', multi])).stdout.trim()).toBe(hostArch);
    await dockerd.docker(['stop', '-t', '10', 'pause-multi']);
    expect(await inspect('{{.State.ExitCode}}')).toBe('0');
  });
});

describeWithTools(['containerd', 'ctr', 'runc'], 'a synthesised image runs under containerd + runc (ctr run)', () => {
  it('runs until SIGTERM, then exits 0', async () => {
    await using registry = await embeddedRegistry.start({});
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'synth/ctr-run', 'v1', { layers: [10_000], seed: 'ctr-run' });
    await using containerd = await startContainerd({ label: 'runnable-image', snapshotter: 'native' });
    const ref = `${registry.host}/synth/ctr-run:v1`;
    await containerd.ctr(['image', 'pull', '--plain-http', '--snapshotter', 'native', ref]);
    // In the foreground: ctr run's own exit status is the container's.
    const run = spawn('ctr', ['--address', containerd.socket, 'run', '--rm', '--net-host', '--snapshotter', 'native', ref, 'pause-test'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));
    try {
      let tasks = '';
      for (let i = 0; i < 50 && !/pause-test\s+\d+\s+RUNNING/.test(tasks); i++) {
        await sleep(200);
        tasks = (await containerd.ctr(['task', 'ls'])).stdout;
      }
      expect(tasks).toMatch(/pause-test\s+\d+\s+RUNNING/);
      await sleep(1000);
      expect(run.exitCode).toBeNull();
      const started = Date.now();
      await containerd.ctr(['task', 'kill', '--signal', 'SIGTERM', 'pause-test']);
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      if (run.exitCode === null) run.kill('SIGKILL');
    }
  });
});
