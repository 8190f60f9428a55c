import { describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { aggregateUsage, cpuProbeUs, parseSchedstat, runQueueDelta, UsageSampler, type ProcessUsage } from '../../src/measure/usage.js';

const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin: CPU time and a blocked event loop */
  }
};
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sampling the process during a rollout', () => {
  it('counts CPU time and event-loop delay in the window, and shares them out per node', async () => {
    await using sampler = UsageSampler.start({ intervalMs: 20 });
    sampler.begin();
    await tick(30);
    // On a shared machine a 150 ms spin may get less CPU than 150 ms: compare with what it got.
    const before = process.cpuUsage();
    busy(150);
    const spent = process.cpuUsage(before);
    await tick(60);
    const u = sampler.stop(10);
    expect(u.durationMs).toBeGreaterThanOrEqual(200);
    expect(u.cpu.totalMs).toBeGreaterThanOrEqual(Math.floor((spent.user + spent.system) / 1000));
    expect(u.perNode.cpuMs).toBeCloseTo(u.cpu.totalMs / 10, 5);
    expect(u.cpu.cores).toBeCloseTo(u.cpu.totalMs / u.durationMs, 1);
    // The spin held the loop for 150 ms: the 10 ms timer ran at least ~130 ms late once.
    expect(u.eventLoop.delayMaxMs).toBeGreaterThanOrEqual(120);
    expect(u.eventLoop.utilization).toBeGreaterThan(0.4);
    expect(u.samples).toBeGreaterThan(0);
    expect(u.perNode.method).toBe('process-share');
  });

  it.skipIf(!existsSync('/proc/self/task'))('records how long its threads waited for a CPU while other processes held every core', async () => {
    // One spinning process per core and one more: the main thread, spinning too, must queue for a CPU.
    const burners = Array.from({ length: cpus().length + 1 }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    try {
      await tick(100);
      await using sampler = UsageSampler.start({ intervalMs: 50 });
      sampler.begin();
      busy(400);
      const u = sampler.stop(1);
      expect(u.runQueue).toBeDefined();
      expect(u.runQueue!.mainWaitMs).toBeGreaterThan(20);
      expect(u.runQueue!.threadsWaitMs).toBeGreaterThanOrEqual(u.runQueue!.mainWaitMs);
      expect(u.runQueue!.mainWaitMs).toBeLessThanOrEqual(u.durationMs);
      // The probe ran at every sample of the window.
      expect(u.cpuProbe?.samples).toBeGreaterThan(0);
      expect(u.cpuProbe!.medianUs).toBeGreaterThan(0);
    } finally {
      for (const b of burners) b.kill('SIGKILL');
    }
  });

  it('times a fixed piece of work that takes longer when asked to do more', () => {
    const small = Math.min(...Array.from({ length: 5 }, () => cpuProbeUs(50_000).us));
    const large = Math.min(...Array.from({ length: 5 }, () => cpuProbeUs(500_000).us));
    expect(large).toBeGreaterThan(small * 3);
  });

  it('reads run_delay from a schedstat line and sums the growth per thread, counting threads born in between', () => {
    expect(parseSchedstat('1129623 17038829 2\n')).toBe(17038829);
    expect(parseSchedstat('garbage')).toBeUndefined();
    expect(parseSchedstat('1 -5 2')).toBeUndefined();
    const before = new Map([['100', 1e6], ['101', 5e6], ['102', 9e6]]);
    // 102 ended (lost), 103 was born (all of its wait counts).
    const after = new Map([['100', 31e6], ['101', 6e6], ['103', 2e6]]);
    expect(runQueueDelta(before, after, '100')).toEqual({ mainWaitMs: 30, threadsWaitMs: 33 });
  });

  it('takes the memory peak against the baseline before the nodes started', async () => {
    await using sampler = UsageSampler.start({ intervalMs: 10 });
    sampler.begin();
    const held = Buffer.alloc(64 * 1024 * 1024, 1);
    await tick(50);
    const u = sampler.stop(4);
    expect(held.length).toBe(64 * 1024 * 1024);
    expect(u.memory.rssPeakBytes - u.memory.rssBaselineBytes).toBeGreaterThanOrEqual(60 * 1024 * 1024);
    expect(u.perNode.rssBytes).toBeCloseTo((u.memory.rssPeakBytes - u.memory.rssBaselineBytes) / 4, 0);
    if (process.platform === 'linux') expect(u.openFdsPeak).toBeGreaterThan(0);
  });

  it('misses a memory sample, and says so, when the process is out of file descriptors (EMFILE), instead of throwing', async () => {
    await using sampler = UsageSampler.start({ intervalMs: 5 });
    sampler.begin();
    const emfile = Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' });
    const spy = vi.spyOn(process, 'memoryUsage').mockImplementation(() => {
      throw emfile;
    });
    try {
      await tick(30);
      const u = sampler.stop(1);
      expect(u.memorySamplesMissed).toBeGreaterThanOrEqual(1);
      expect(u.memory.rssPeakBytes).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
    }
    await using fine = UsageSampler.start({ intervalMs: 5 });
    expect(fine.stop(1).memorySamplesMissed).toBeUndefined();
  });

  it('says when load storms ran in the process during the window, and not otherwise', () => {
    const quiet = UsageSampler.start();
    quiet.begin();
    expect(quiet.stop(4).loadStorms).toBeUndefined();
    const stormy = UsageSampler.start();
    stormy.begin();
    const u = stormy.stop(4, { loadStorms: 2 });
    expect(u.loadStorms).toBe(2);
    // The CPU is still the whole process's: nothing is subtracted.
    expect(u.perNode.cpuMs).toBeCloseTo(u.cpu.totalMs / 4, 5);
  });
});

describe('an arm over its repetitions', () => {
  const usage = (cpuMs: number, rssPeak: number, delayP99: number): ProcessUsage => ({
    durationMs: 1000, nodes: 10,
    cpu: { userMs: cpuMs, systemMs: 0, totalMs: cpuMs, cores: cpuMs / 1000 },
    memory: { rssBaselineBytes: 100, rssPeakBytes: rssPeak, heapUsedBaselineBytes: 0, heapUsedPeakBytes: 0 },
    eventLoop: { utilization: 0.5, delayP50Ms: 1, delayP99Ms: delayP99, delayMaxMs: delayP99 },
    perNode: { cpuMs: cpuMs / 10, rssBytes: (rssPeak - 100) / 10, heapBytes: 0, method: 'process-share' },
    samples: 4,
  });

  it('averages the per-node figures and keeps the highest peaks', () => {
    const a = aggregateUsage([usage(1000, 1100, 5), usage(3000, 2100, 50)])!;
    expect(a.cpuPerNodeMs).toBe(200);
    expect(a.rssPerNodeBytes).toBe(150);
    expect(a.rssPeakBytes).toBe(2100);
    expect(a.eventLoopDelayP99Ms).toBe(50);
    expect(a.cpuCores).toBe(2);
  });

  it('carries the load storms that shared the process into the arm', () => {
    expect(aggregateUsage([usage(1000, 1100, 5), usage(1000, 1100, 5)])!.loadStorms).toBeUndefined();
    expect(aggregateUsage([usage(1000, 1100, 5), { ...usage(1000, 1100, 5), loadStorms: 3 }])!.loadStorms).toBe(3);
  });

  it('has no aggregate without usage (real clusters)', () => {
    expect(aggregateUsage([])).toBeUndefined();
  });
});
