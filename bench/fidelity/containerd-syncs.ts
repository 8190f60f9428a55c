/**
 * Counts the syncs a real containerd makes in one CRI PullImage, cold and warm,
 * by attaching strace to the daemon: the measurement behind the embedded
 * runtime's metadata commits (META_TX_PER_PULL, META_TX_PER_NEW_LAYER in
 * src/node/runtimes/embedded.ts). Rerun it for another containerd version.
 *
 *   npx tsx bench/fidelity/containerd-syncs.ts [--layers 1,2,4,8]
 */
import { spawn } from 'node:child_process';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { distributionRegistry } from '../../src/registry/provider.js';
import { findTool } from '../../src/util/tools.js';
import { pushWithClient, synthImage } from '../../test/node/helpers/images.js';
import { listOption } from '../options.js';

// strace -c summary rows: "% time seconds usecs/call calls [errors] syscall".
function counts(summary: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of summary.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m && m[2] !== 'total') out[m[2]!] = Number(m[1]);
  }
  return out;
}

async function traced(pid: number, pull: () => Promise<unknown>): Promise<Record<string, number>> {
  const strace = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let summary = '';
  strace.stderr.on('data', (c: Buffer) => (summary += c.toString()));
  // strace prints "attached" once it follows the daemon's threads.
  await new Promise((r) => setTimeout(r, 1000));
  await pull();
  await new Promise((r) => setTimeout(r, 300));
  strace.kill('SIGINT');
  await new Promise((r) => strace.on('exit', r));
  return counts(summary);
}

async function main(): Promise<void> {
  if (!findTool('strace')) {
    console.error('strace is not installed (apt-get install strace)');
    process.exit(2);
  }
  const layerCounts = listOption('layers', ['1', '2', '4', '8']).map(Number);
  await using registry = await distributionRegistry.start({ storage: 'filesystem' });
  const hostsToml = { [registry.host]: `server = "http://${registry.host}"\n` };
  await using rt = await ContainerdRuntime.start({ label: 'syncs', hostsToml });
  console.log(`containerd ${rt.daemon.version} (${rt.daemon.snapshotter})`);
  console.log('| layers | cold fdatasync | cold fsync | warm fdatasync | warm fsync |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const n of layerCounts) {
    const img = synthImage(Array.from({ length: n }, () => 256 * 1024));
    await pushWithClient(registry.url, `syncs/l${n}`, 'v1', img);
    const image = `${registry.host}/syncs/l${n}:v1`;
    const cold = await traced(rt.daemon.pid, () => rt.pullImage(image));
    const warm = await traced(rt.daemon.pid, () => rt.pullImage(image));
    await rt.removeImage(image);
    console.log(`| ${n} | ${cold.fdatasync ?? 0} | ${cold.fsync ?? 0} | ${warm.fdatasync ?? 0} | ${warm.fsync ?? 0} |`);
  }
}

await main();
