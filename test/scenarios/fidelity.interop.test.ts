import { expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';
import { describeWithTools } from '../helpers/interop.js';

// scenarios/fidelity-10mb-1l.yaml through the product path (runScenario, as `pullbench run`), once per runtime.
async function run(runtime: 'embedded' | 'containerd', set: string[] = []) {
  const loaded = await loadScenario('scenarios/fidelity-10mb-1l.yaml', { set: [`cluster.runtime=${runtime}`, 'repeat=2', ...set] });
  return (await runScenario(loaded, { writeOutputs: false })).results;
}

describeWithTools(['containerd'], 'the embedded runtime against real containerd nodes, through pullbench run', () => {
  it('records the disk store and the modelled versions, and keeps the cold pull p50 within a loose bound of containerd', async () => {
    const containerd = await run('containerd');
    const embedded = await run('embedded');
    expect(embedded.environment.cluster).toMatchObject({ driver: 'emulated', runtime: 'embedded', layerStore: 'disk', kubernetesVersion: '1.35', containerdVersion: '2.1' });
    expect(containerd.environment.cluster.containerd).toMatch(/\d+\.\d+/);
    const p50 = (r: typeof embedded): number => r.arms[0]!.aggregate.pull!.p50;
    // A loose bound: this machine is shared, and one run of 4 pulls a side scatters widely. The 0.90-1.10 target
    // is measured with the interleaved procedure of docs/emulation-and-fidelity.md.
    const ratio = p50(embedded) / p50(containerd);
    expect(ratio, `embedded ${p50(embedded)} ms / containerd ${p50(containerd)} ms`).toBeGreaterThan(0.33);
    expect(ratio, `embedded ${p50(embedded)} ms / containerd ${p50(containerd)} ms`).toBeLessThan(3);
  });

  it('sends the registry the same requests as containerd under IfNotPresent and Always, cold and warm', async () => {
    const matrix = ['matrix.pullPolicy=[IfNotPresent, Always]', 'matrix.cache=[cold, warm]', 'repeat=1'];
    const [containerd, embedded] = [await run('containerd', matrix), await run('embedded', matrix)];
    const counts = (r: typeof embedded) => Object.fromEntries(r.arms.map((a) => [a.arm.name, a.aggregate.requests]));
    expect(Object.keys(counts(embedded))).toHaveLength(4);
    expect(counts(embedded)).toEqual(counts(containerd));
  });
});
