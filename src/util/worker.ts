import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Starts the worker thread whose entry is the module `name` beside the module at
 * `from` (its import.meta.url). Built, that is `name.js`; in source form (tsx,
 * vitest) it is `name.ts`, and a small bootstrap registers tsx's loader in the
 * thread first.
 */
export function startModuleWorker(from: string, name: string, resourceLimits?: ResourceLimits): Worker {
  const limits = resourceLimits ? { resourceLimits } : {};
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), limits);
  const tsxApi = pathToFileURL(createRequire(from).resolve('tsx/esm/api')).href;
  const entry = new URL(`./${name}.ts`, from).href;
  const boot = 'const { workerData: w } = require("node:worker_threads"); import(w.tsxApi).then((m) => { m.register(); return import(w.entry); });';
  return new Worker(boot, { eval: true, workerData: { tsxApi, entry }, ...limits });
}

/** Error details for a message across a thread boundary: a structured clone where one can be made, else JSON. */
export function structuredSafe(details: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(details);
  } catch {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  }
}
