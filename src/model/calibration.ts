import { readFile } from 'node:fs/promises';
import { PullbenchError } from '../errors.js';
import { RegistryClient } from '../oci/client.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import { pushSynthImage } from '../oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../registry/provider.js';
import { environmentInfo } from '../util/environment.js';

/** How one server (the embedded registry, or the embedded mirror serving from its cache) answers, as the model uses it. */
export interface ServerCalibration {
  /** Time to answer one small request alone, first byte, ms (keep-alive loopback, no link). */
  serviceMs: number;
  /** Requests it serves at once: throughput under load x serviceMs, at least 1. */
  concurrency: number;
  /** Body bytes per ms it sends with many clients reading at once: its egress link in the flow model. */
  egressBytesPerMs: number;
}

export interface Calibration {
  kind: 'pullbench.calibration';
  version: 1;
  measuredAt: string;
  machine: { cpuModel: string; cpus: number; node: string; pullbench: string };
  /** How it was measured, in one line. */
  method: string;
  registry: ServerCalibration;
  mirror: ServerCalibration;
}

const METHOD = 'pullbench calibrate: 200 sequential manifest GETs (median), 1,000 GETs by 32 clients, a 16 MB blob read by 8 clients x 2, on the embedded registry and on the embedded mirror (cache hits)';

/**
 * The calibration a model run uses unless the scenario names a file
 * (cluster.calibration): `pullbench calibrate` on the 2-core development
 * machine, see docs/model.md. Built in, so that a modelled run is reproducible.
 */
export const BUILTIN_CALIBRATION: Calibration = {
  kind: 'pullbench.calibration',
  version: 1,
  measuredAt: '2026-12-06T20:49:36.000Z',
  machine: { cpuModel: 'Intel(R) Xeon(R) Processor', cpus: 2, node: '20.20.2', pullbench: '0.1.0' },
  method: 'pullbench calibrate as first written: 400 sequential manifest GETs (median), 2,000 GETs by 32 clients, a 16 MB blob read by 8 clients x 3, on the embedded registry and on the embedded mirror (cache hits); load average ~19',
  registry: { serviceMs: 0.7977, concurrency: 1, egressBytesPerMs: 62_911 },
  mirror: { serviceMs: 0.4845, concurrency: 1, egressBytesPerMs: 51_188 },
};

function checkServer(x: unknown, path: string, bad: string[]): void {
  const s = x as Partial<ServerCalibration> | undefined;
  if (!s || typeof s !== 'object') {
    bad.push(`${path} must be an object`);
    return;
  }
  if (!(typeof s.serviceMs === 'number' && s.serviceMs >= 0)) bad.push(`${path}.serviceMs must be a number >= 0`);
  if (!(Number.isInteger(s.concurrency) && s.concurrency! >= 1)) bad.push(`${path}.concurrency must be an integer >= 1`);
  if (!(typeof s.egressBytesPerMs === 'number' && s.egressBytesPerMs > 0)) bad.push(`${path}.egressBytesPerMs must be a number > 0`);
}

/** Reads a calibration file written by `pullbench calibrate --out`; every bad field reported at once. */
export async function loadCalibration(file: string): Promise<Calibration> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new PullbenchError('INVALID_ARGUMENT', `cannot read calibration ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  const c = parsed as Partial<Calibration>;
  const bad: string[] = [];
  if (c?.kind !== 'pullbench.calibration' || c.version !== 1) bad.push('kind must be pullbench.calibration, version 1');
  checkServer(c?.registry, 'registry', bad);
  checkServer(c?.mirror, 'mirror', bad);
  if (bad.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `calibration ${file}: ${bad.join('; ')}`, { details: { file, problems: bad } });
  return c as Calibration;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function measureServer(base: string, repo: string, manifest: string, blob: string, blobSize: number): Promise<ServerCalibration> {
  const get = async (path: string): Promise<void> => {
    const res = await fetch(`${base}/v2/${repo}/${path}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) throw new PullbenchError('REGISTRY_ERROR', `calibration GET ${path}: HTTP ${res.status}`);
    await res.arrayBuffer();
  };
  const small = `manifests/${manifest}`;
  for (let i = 0; i < 20; i++) await get(small);
  const singles: number[] = [];
  for (let i = 0; i < 200; i++) singles.push(await timed(() => get(small)));
  singles.sort((a, b) => a - b);
  const serviceMs = singles[Math.floor(singles.length / 2)]!;
  let left = 1000;
  const loaded = await timed(() => Promise.all(Array.from({ length: 32 }, async () => {
    while (left-- > 0) await get(small);
  })));
  const perMs = 1000 / loaded;
  const egress = await timed(() => Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = 0; i < 2; i++) await get(`blobs/${blob}`);
  })));
  return {
    serviceMs: Number(serviceMs.toFixed(4)),
    concurrency: Math.max(1, Math.round(perMs * serviceMs)),
    egressBytesPerMs: Math.round((8 * 2 * blobSize) / egress),
  };
}

/** Measures the embedded registry and the embedded mirror on this machine (a few seconds). */
export async function measureCalibration(): Promise<Calibration> {
  await using registry: StartedRegistry = await embeddedRegistry.start({});
  const image = await (async () => {
    await using client = new RegistryClient({ baseUrl: registry.url });
    return await pushSynthImage(client, 'calibration/app', 'v1', { layers: [16 * 1024 * 1024], seed: 'calibration' });
  })();
  const first = image.images[0]!;
  const layer = first.layers.reduce((a, b) => (b.size > a.size ? b : a));
  const registryCal = await measureServer(registry.url, 'calibration/app', first.manifest.digest, layer.digest, layer.size);
  await using mirror = await embeddedRegistry.start({ storage: 'memory', upstream: { url: registry.url } });
  const mirrorCal = await measureServer(mirror.url, 'calibration/app', first.manifest.digest, layer.digest, layer.size);
  const env = environmentInfo();
  return {
    kind: 'pullbench.calibration',
    version: 1,
    measuredAt: new Date().toISOString(),
    machine: { cpuModel: env.cpuModel, cpus: env.cpus, node: env.node, pullbench: env.pullbench },
    method: METHOD,
    registry: registryCal,
    mirror: mirrorCal,
  };
}
