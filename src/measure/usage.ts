import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/**
 * What the pullbench process spent while emulated nodes ran a rollout. In-process
 * nodes share one process (and its registry, proxies and link shaping), so the
 * per-node figures are the process's figures divided by the node count: an upper
 * bound on what one emulated node costs, not a per-node measurement. With `load:`
 * storms the process also ran their generator (see loadStorms).
 */
export interface ProcessUsage {
  /** The window measured: from the first pod created to the last step settled. */
  durationMs: number;
  nodes: number;
  cpu: {
    userMs: number;
    systemMs: number;
    /** user + system, every thread of the process (zlib and crypto run on the libuv pool). */
    totalMs: number;
    /** totalMs / durationMs: 1.0 is one core busy for the whole window. */
    cores: number;
  };
  memory: {
    /** RSS just before the cluster started (registry seeded, no nodes yet). */
    rssBaselineBytes: number;
    rssPeakBytes: number;
    heapUsedBaselineBytes: number;
    heapUsedPeakBytes: number;
  };
  eventLoop: {
    /** Share of the window the main thread was busy (performance.eventLoopUtilization). */
    utilization: number;
    /** How late the loop ran a 10 ms timer: the wait any callback (a socket read, a kubelet event) saw. */
    delayP50Ms: number;
    delayP99Ms: number;
    delayMaxMs: number;
  };
  /** Open file descriptors at the peak (sockets included), counted every 8th sample; Linux only. */
  openFdsPeak?: number;
  /**
   * Time this process's threads were runnable but waiting for a CPU during the window (Linux
   * /proc/self/task/N/schedstat, field 2: run_delay, see the kernel's Documentation/scheduler/sched-stats.rst).
   * Other work on the machine shows up here as lost time, whatever the harness was doing: the
   * upper bound of how much a busy neighbour can have slowed this window (src/compare/compare.ts).
   */
  runQueue?: {
    /** The main thread: the event loop, which every emulated node, link and timer of the run shares. */
    mainWaitMs: number;
    /** All threads (main, libuv pool for zlib and digests, V8 workers), summed. */
    threadsWaitMs: number;
  };
  /**
   * How fast the CPU ran this process's main thread during the window: a fixed piece of
   * arithmetic (PROBE_ITERATIONS) timed at every sample, its median. A neighbour slows it
   * even where the run queue shows no wait (a sibling hyperthread, a throttled clock).
   */
  cpuProbe?: { medianUs: number; samples: number };
  perNode: {
    /** cpu.totalMs / nodes. */
    cpuMs: number;
    /** (rssPeakBytes - rssBaselineBytes) / nodes. */
    rssBytes: number;
    /** (heapUsedPeakBytes - heapUsedBaselineBytes) / nodes. */
    heapBytes: number;
    method: 'process-share';
  };
  /** Samples taken (every intervalMs) for the peaks. */
  samples: number;
  /** Samples whose memory reading failed (EMFILE at the process's open-file limit): the peaks may be low (absent: none). */
  memorySamplesMissed?: number;
  /**
   * Storms of the scenario's `load:` stage that ran in this process during the window
   * (absent: none). cpu, eventLoop and perNode then include the load generator's work,
   * and an embedded registry's serving of the storms: one process's CPU time cannot be
   * split by who spent it, and a storm's `generatorCpuMs` is this same process's CPU
   * over the storm (a storm lasting the rollout encloses this window), so it cannot be subtracted either.
   */
  loadStorms?: number;
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

const FD_EVERY = 8;

/** The probe's work: ~0.2-0.5 ms of integer arithmetic on a current x86 core, 0.1-0.2% of a 250 ms sampling interval. */
export const PROBE_ITERATIONS = 200_000;

/** Microseconds the fixed work took on this thread now (a linear congruential step, kept live through its result). */
export function cpuProbeUs(iterations = PROBE_ITERATIONS): { us: number; sink: number } {
  let x = 1;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  return { us: Number(process.hrtime.bigint() - t0) / 1000, sink: x };
}

/** run_delay (ns, the second field) of one schedstat line; undefined when it does not parse. */
export function parseSchedstat(text: string): number | undefined {
  const f = text.trim().split(/\s+/);
  const wait = Number(f[1]);
  return f.length >= 3 && Number.isFinite(wait) && wait >= 0 ? wait : undefined;
}

/** Run-queue wait in ns per thread id of this process; undefined off Linux (or without schedstats). */
export function runQueueWaits(): Map<string, number> | undefined {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return undefined;
  }
  const out = new Map<string, number>();
  for (const tid of tids) {
    try {
      const w = parseSchedstat(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8'));
      if (w !== undefined) out.set(tid, w);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out.size > 0 ? out : undefined;
}

/**
 * The waits between two snapshots: threads present in both count their growth, threads born
 * in between all of theirs; a thread that ended in between is lost (libuv's pool and V8's
 * workers live as long as the process, so little is).
 */
export function runQueueDelta(before: Map<string, number>, after: Map<string, number>, mainTid: string): { mainWaitMs: number; threadsWaitMs: number } {
  let threads = 0;
  let main = 0;
  for (const [tid, w] of after) {
    const d = Math.max(0, w - (before.get(tid) ?? 0));
    threads += d;
    if (tid === mainTid) main = d;
  }
  return { mainWaitMs: Math.round(main / 1e4) / 100, threadsWaitMs: Math.round(threads / 1e4) / 100 };
}

/** The histogram's timer period: it records the time between ticks, so the delay is what exceeds it. */
const RESOLUTION_MS = 10;
const lateMs = (x: number): number => Math.max(0, Math.round((x / 1e6 - RESOLUTION_MS) * 100) / 100);

/**
 * Samples the process while a rollout runs: `start()` before the cluster starts
 * takes the memory baseline, `begin()` at the first pod opens the CPU and
 * event-loop window, `stop(nodes)` closes it. Sampling is a timer every
 * `intervalMs` (default 250 ms) reading numbers the runtime already keeps.
 */
export class UsageSampler implements AsyncDisposable {
  private readonly baseline = process.memoryUsage();
  private peakRss = this.baseline.rss;
  private peakHeap = this.baseline.heapUsed;
  private peakFds = openFds();
  private samples = 0;
  /** Samples whose memory reading failed (EMFILE at the open-file limit). */
  private missed = 0;
  private probes: number[] = [];
  private probeSink = 0;
  private readonly timer: NodeJS.Timeout;
  private window: { t0: number; cpu: NodeJS.CpuUsage; elu: EventLoopUtilization; delay: IntervalHistogram; waits: Map<string, number> | undefined } | undefined;

  private constructor(intervalMs: number) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  static start(opts: { intervalMs?: number } = {}): UsageSampler {
    return new UsageSampler(opts.intervalMs ?? 250);
  }

  /** Opens the measured window (CPU time, event-loop utilisation and delay). */
  begin(): void {
    const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    delay.enable();
    this.window = { t0: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), delay, waits: runQueueWaits() };
    this.probes = [];
  }

  /** Closes the window; without begin(), the window is since start(). `loadStorms`: storms that ran in this process meanwhile. */
  stop(nodes: number, opts: { loadStorms?: number } = {}): ProcessUsage {
    clearInterval(this.timer);
    this.sample();
    const w = this.window;
    const durationMs = w ? performance.now() - w.t0 : 0;
    const waits = w?.waits ? runQueueWaits() : undefined;
    const cpu = process.cpuUsage(w?.cpu);
    const elu = w ? performance.eventLoopUtilization(w.elu) : undefined;
    w?.delay.disable();
    const totalMs = Math.round((cpu.user + cpu.system) / 1000);
    const perNode = Math.max(1, nodes);
    const usage: ProcessUsage = {
      durationMs: Math.round(durationMs),
      nodes,
      cpu: { userMs: Math.round(cpu.user / 1000), systemMs: Math.round(cpu.system / 1000), totalMs, cores: durationMs > 0 ? totalMs / durationMs : 0 },
      memory: { rssBaselineBytes: this.baseline.rss, rssPeakBytes: this.peakRss, heapUsedBaselineBytes: this.baseline.heapUsed, heapUsedPeakBytes: this.peakHeap },
      eventLoop: {
        utilization: elu?.utilization ?? 0,
        // In nanoseconds; an empty histogram has no meaningful percentiles.
        delayP50Ms: w && w.delay.count > 0 ? lateMs(w.delay.percentile(50)) : 0,
        delayP99Ms: w && w.delay.count > 0 ? lateMs(w.delay.percentile(99)) : 0,
        delayMaxMs: w && w.delay.count > 0 ? lateMs(w.delay.max) : 0,
      },
      perNode: {
        cpuMs: totalMs / perNode,
        rssBytes: Math.max(0, this.peakRss - this.baseline.rss) / perNode,
        heapBytes: Math.max(0, this.peakHeap - this.baseline.heapUsed) / perNode,
        method: 'process-share',
      },
      samples: this.samples,
    };
    if (this.peakFds !== undefined) usage.openFdsPeak = this.peakFds;
    if (this.missed > 0) usage.memorySamplesMissed = this.missed;
    // The main thread's id is the process id (the thread-group leader).
    if (w?.waits && waits) usage.runQueue = runQueueDelta(w.waits, waits, String(process.pid));
    if (w && this.probes.length > 0) {
      const sorted = [...this.probes].sort((a, b) => a - b);
      usage.cpuProbe = { medianUs: Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10, samples: sorted.length };
    }
    if (opts.loadStorms) usage.loadStorms = opts.loadStorms;
    return usage;
  }

  /** Stops sampling without a result (a repetition that failed). */
  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.timer);
    this.window?.delay.disable();
  }

  private sample(): void {
    if (this.window) {
      const p = cpuProbeUs();
      this.probes.push(p.us);
      this.probeSink ^= p.sink;
    }
    // Reading the RSS opens /proc/self/stat: at the open-file limit (thousands of nodes' connections) it fails with
    // EMFILE, and a throw here, in a timer, would end the run. A sample missed is a sample missed.
    let m: NodeJS.MemoryUsage | undefined;
    try {
      m = process.memoryUsage();
    } catch {
      this.missed++;
    }
    if (m && m.rss > this.peakRss) this.peakRss = m.rss;
    if (m && m.heapUsed > this.peakHeap) this.peakHeap = m.heapUsed;
    // Listing /proc/self/fd costs ~5 ms per 3,000 fds (4% of a 400-node run at every sample): every 8th sample.
    if (this.samples++ % FD_EVERY !== 0) return;
    const fds = openFds();
    if (fds !== undefined && (this.peakFds === undefined || fds > this.peakFds)) this.peakFds = fds;
  }
}

/** An arm's usage over its repetitions: means, except the peaks, which are the highest seen. */
export interface UsageAggregate {
  nodes: number;
  /** Process CPU time per node during the rollout (mean over repetitions). */
  cpuPerNodeMs: number;
  /** Cores the process kept busy during the rollout (mean). */
  cpuCores: number;
  /** RSS growth from before the cluster started to the peak, per node (mean). */
  rssPerNodeBytes: number;
  rssPeakBytes: number;
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
  openFdsPeak?: number;
  /** The most load storms any repetition ran in the process (see ProcessUsage.loadStorms): the figures above include their generator. */
  loadStorms?: number;
}

export function aggregateUsage(usages: readonly ProcessUsage[]): UsageAggregate | undefined {
  if (usages.length === 0) return undefined;
  const mean = (f: (u: ProcessUsage) => number): number => usages.reduce((a, u) => a + f(u), 0) / usages.length;
  const fds = usages.flatMap((u) => (u.openFdsPeak === undefined ? [] : [u.openFdsPeak]));
  const storms = Math.max(0, ...usages.map((u) => u.loadStorms ?? 0));
  return {
    nodes: Math.max(...usages.map((u) => u.nodes)),
    cpuPerNodeMs: mean((u) => u.perNode.cpuMs),
    cpuCores: mean((u) => u.cpu.cores),
    rssPerNodeBytes: mean((u) => u.perNode.rssBytes),
    rssPeakBytes: Math.max(...usages.map((u) => u.memory.rssPeakBytes)),
    eventLoopUtilization: mean((u) => u.eventLoop.utilization),
    eventLoopDelayP99Ms: Math.max(...usages.map((u) => u.eventLoop.delayP99Ms)),
    ...(fds.length > 0 ? { openFdsPeak: Math.max(...fds) } : {}),
    ...(storms > 0 ? { loadStorms: storms } : {}),
  };
}
