/**
 * The embedded runtime's pull alone, for finding where its time goes: cold pulls
 * of one synthetic image from docker-registry with the `disk` store (what the
 * fidelity benchmark times) and the `stream` store (download, verify and
 * decompress only), each after the same settle as the fidelity benchmark.
 * `--cpu-prof FILE` writes a CPU profile of the timed pulls only (open it in
 * Chrome DevTools).
 *
 *   npx tsx bench/fidelity/embedded-profile.ts [--mb 250] [--layers 8] [--repeat 3] [--stores disk,inflate-only] [--cpu-prof out.cpuprofile]
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { distributionRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage } from '../../test/node/helpers/images.js';
import { withThreadpool } from '../threadpool.js';
import { settle, syncAll } from './settle.js';

const MB = 1024 * 1024;
await withThreadpool();

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '250' },
    layers: { type: 'string', default: '8' },
    repeat: { type: 'string', default: '3' },
    stores: { type: 'string', default: 'disk,inflate-only' },
    'cpu-prof': { type: 'string' },
  },
});
const layers = Number(values.layers);
const img = synthImage(Array.from({ length: layers }, () => Math.floor((Number(values.mb) * MB) / layers)));
await using registry = await distributionRegistry.start({ storage: 'filesystem' });
await pushWithClient(registry.url, 'profile/img', 'v1', img);
const image = `${registry.host}/profile/img:v1`;
// Every process this one starts is started before the first pull (see syncAll).
await syncAll();
const profiler = new Session();
profiler.connect();
await profiler.post('Profiler.enable');
const hostsToml = { [registry.host]: `server = "http://${registry.host}"\n` };
for (const store of values.stores.split(',') as ('disk' | 'inflate-only')[]) {
  await using rt = await EmbeddedRuntime.start({ label: 'profile', hostsToml, layerStore: store });
  const ms: number[] = [];
  const cpu: number[] = [];
  const sys: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i <= Number(values.repeat); i++) {
    await settle();
    const profiling = i > 0 && values['cpu-prof'] !== undefined;
    if (profiling) await profiler.post('Profiler.start');
    const c0 = process.cpuUsage();
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    await rt.pullImage(image);
    if (i > 0) {
      ms.push(Math.round(performance.now() - t0));
      const c = process.cpuUsage(c0);
      cpu.push(Math.round((c.user + c.system) / 1000));
      sys.push(Math.round(c.system / 1000));
      faults.push(process.resourceUsage().minorPageFault - f0);
    }
    if (profiling) {
      const { profile } = await profiler.post('Profiler.stop');
      await writeFile(`${values['cpu-prof']}.${store}.${i}`, JSON.stringify(profile));
    }
    await rt.removeImage(image);
  }
  console.log(`${store}: ${ms.join(' ')} ms, CPU ${cpu.join(' ')} ms (system ${sys.join(' ')}), minor faults ${faults.join(' ')} (${values.mb} MB, ${layers} layers, after one untimed pull)`);
}
profiler.disconnect();
