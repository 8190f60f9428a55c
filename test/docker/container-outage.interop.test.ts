import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { containerRegistry } from '../../src/registry/providers/container.js';
import { ContainerFaultStage } from '../../src/run/container-fault-stage.js';
import type { Scenario } from '../../src/scenario/schema.js';
import { describeWithTools } from '../helpers/interop.js';

// What a request to the registry meets: its status, or the network error's code, and when it was answered.
async function probe(url: string, timeoutMs = 10_000): Promise<{ status: number | string; at: number }> {
  const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(timeoutMs) }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    (e: unknown) => ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name),
  );
  return { status: res, at: Date.now() };
}

const fault = (kind: 'refuse' | 'stall', at: number, forMs: number): Scenario['faults'][number] => ({ target: 'registry', at, for: forMs, kind });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The local registry image is built from Debian's docker-registry binary: nothing is pulled from the internet.
describeWithTools(['dockerd', 'docker', 'docker-registry'], 'a registry container as a real cluster meets a fault (issue 22.6)', () => {
  let dockerd: StartedDockerd;
  let image: string;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'container-outage' });
    image = (await buildLocalRegistryImage(dockerd)).tag;
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it('refuse stops the container for its window: connections refused, then it answers again with what it stored, and is still counted', async () => {
    await using registry = await containerRegistry({ image, dockerHost: dockerd.host }).start({});
    const client = new RegistryClient({ baseUrl: registry.url });
    const blob = Buffer.from('kept across docker stop and start '.repeat(100));
    await client.pushBlob('team/app', blob);
    await using stage = new ContainerFaultStage([fault('refuse', 0, 3_000)], new Map([['registry', registry.outage]]));
    const t0 = Date.now();
    stage.arm(t0);
    await sleep(1_500);
    const running = (await dockerd.docker(['inspect', '--format', '{{.State.Running}}', (registry as { containerId?: string }).containerId!])).stdout.trim();
    expect(running).toBe('false');
    expect((await probe(registry.url)).status).toBe('ECONNREFUSED');
    // Back once the window has ended and the container answers again.
    let back = await probe(registry.url);
    while (back.status !== 200 && Date.now() - t0 < 60_000) {
      await sleep(200);
      back = await probe(registry.url);
    }
    expect(back.status).toBe(200);
    expect(back.at - t0).toBeGreaterThanOrEqual(3_000);
    const got = await client.getBlob('team/app', digestOf(blob));
    const chunks: Buffer[] = [];
    for await (const c of got.body) chunks.push(Buffer.from(c as Buffer));
    expect(digestOf(Buffer.concat(chunks))).toBe(digestOf(blob));
    const [window] = stage.record();
    expect(window).toMatchObject({ target: 'registry', kind: 'refuse', action: 'docker stop' });
    expect(window!.endedAt - window!.startedAt).toBeGreaterThan(1_000);
    expect(stage.faulted()).toEqual({ 'docker stop': 1 });
    // The request log is followed again after the start: the blob GET above is counted.
    await registry.statsCaughtUp!();
    expect(registry.stats().blobGet).toBeGreaterThanOrEqual(1);
  });

  it('stall pauses the container: a request inside the window is answered only once it is unpaused', async () => {
    await using registry = await containerRegistry({ image, dockerHost: dockerd.host }).start({});
    await using stage = new ContainerFaultStage([fault('stall', 0, 2_500)], new Map([['registry', registry.outage]]));
    const t0 = Date.now();
    stage.arm(t0);
    await sleep(800);
    const held = await probe(registry.url, 20_000);
    expect(held.status).toBe(200);
    expect(held.at - t0).toBeGreaterThanOrEqual(2_400);
    await sleep(200);
    expect(stage.record()[0]).toMatchObject({ kind: 'stall', action: 'docker pause' });
    expect(stage.faulted()).toEqual({ 'docker pause': 1 });
  });

  it('ends an outage still in progress when disposed (a failed or interrupted run), and the registry is removed cleanly', async () => {
    const registry = await containerRegistry({ image, dockerHost: dockerd.host }).start({});
    const id = (registry as { containerId?: string }).containerId!;
    const stage = new ContainerFaultStage([fault('stall', 0, 600_000)], new Map([['registry', registry.outage]]));
    stage.arm(Date.now());
    await sleep(1_000);
    expect((await dockerd.docker(['inspect', '--format', '{{.State.Paused}}', id])).stdout.trim()).toBe('true');
    await stage[Symbol.asyncDispose]();
    expect((await dockerd.docker(['inspect', '--format', '{{.State.Paused}}', id])).stdout.trim()).toBe('false');
    await registry[Symbol.asyncDispose]();
    expect((await dockerd.docker(['ps', '-a', '-q', '--filter', `id=${id}`])).stdout.trim()).toBe('');
  });
});
