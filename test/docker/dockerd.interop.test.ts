import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['dockerd', 'docker', 'docker-registry'], 'a private dockerd and the locally built registry image', () => {
  let dockerd: StartedDockerd;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'test-dockerd' });
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it('answers on its own socket with a server version', async () => {
    expect(dockerd.version).toMatch(/^\d+\.\d+/);
    const { stdout } = await dockerd.docker(['info', '--format', '{{.DockerRootDir}}']);
    expect(stdout.trim().startsWith(dockerd.socket.replace(/\/d\.sock$/, ''))).toBe(true);
  });

  it('runs its containerd with a temp dir of its own, so a stack dump goes with the daemon', async () => {
    const base = dockerd.socket.replace(/\/d\.sock$/, '');
    const dockerdPid = Number(readFileSync(`${base}/d.pid`, 'utf8').trim());
    // dockerd starts containerd as its child (its supervisor SIGUSR1s it for a stack dump before killing it).
    const children = readdirSync(`/proc/${dockerdPid}/task`).flatMap((t) =>
      readFileSync(`/proc/${dockerdPid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean),
    );
    const containerd = children.find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'containerd');
    expect(containerd).toBeDefined();
    const env = readFileSync(`/proc/${containerd}/environ`, 'utf8').split('\0');
    expect(env).toContain(`TMPDIR=${base}/tmp`);
    expect(existsSync(`${base}/tmp`)).toBe(true);
  });

  it('builds a registry image without pulling, and reuses it the second time', async () => {
    const built = await buildLocalRegistryImage(dockerd, { rebuild: true });
    expect(built.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(built.reused).toBe(false);
    const inspect = JSON.parse((await dockerd.docker(['image', 'inspect', built.tag])).stdout) as [
      { Config: { Entrypoint: string[]; Cmd: string[] } },
    ];
    expect(inspect[0].Config.Entrypoint).toEqual(['/bin/registry']);
    expect(inspect[0].Config.Cmd).toEqual(['serve', '/etc/docker/registry/config.yml']);
    expect((await buildLocalRegistryImage(dockerd)).reused).toBe(true);
  });

  it('leaves no mounts, no directory and no network bridge behind after stop', async () => {
    const other = await startDockerd({ label: 'test-dockerd-2' });
    const base = other.socket.replace(/\/d\.sock$/, '');
    await other.docker(['version']);
    // A network left defined: its Linux bridge would outlive the daemon.
    const id = (await other.docker(['network', 'create', 'left-behind'])).stdout.trim();
    const bridge = `/sys/class/net/br-${id.slice(0, 12)}`;
    expect(existsSync(bridge)).toBe(true);
    await other.stop();
    expect(existsSync(base)).toBe(false);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(base);
    expect(existsSync(bridge)).toBe(false);
  });
});
