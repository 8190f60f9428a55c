import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * How busy the machine was while a run ran, so that `compare` can tell a change of the
 * code from a change of the neighbours (a shared CI runner). Read from what the kernel
 * and the runtime already keep: the load average, /proc/stat's per-state jiffies
 * (man 5 proc: user nice system idle iowait irq softirq steal ...), this process's own
 * CPU time and the event loop's lateness.
 */
export interface RunConditions {
  /** os.loadavg() (1, 5, 15 min) when the run started and when it ended. */
  loadAverage: { before: number[]; after: number[] };
  /** From /proc/stat over the run (Linux); absent where the kernel does not give it. */
  cpu?: {
    /** Cores' worth of CPU that other processes used on average: machine busy time minus this process's CPU time, over the wall time. */
    otherCores: number;
    /** Share of CPU time the hypervisor gave to other guests (steal), 0..1. */
    stealShare: number;
    /** Share of CPU time the machine was idle, 0..1. */
    idleShare: number;
  };
  /** How late the harness's event loop ran a 20 ms timer over the whole run: every measured time carries this lateness. */
  eventLoopDelay: { meanMs: number; p99Ms: number; maxMs: number };
  /** SHA-256 instructions in the CPU (x86 sha_ni, arm sha2), which make digest checks cheap; absent where /proc/cpuinfo is not readable. */
  shaExtensions?: boolean;
  wallMs: number;
}

interface Jiffies {
  busy: number;
  idle: number;
  steal: number;
  total: number;
}

/** The aggregate `cpu` line of /proc/stat; undefined off Linux. */
export function parseProcStat(text: string): Jiffies | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  // guest and guest_nice (fields 9-10) are already counted in user and nice.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const idleAll = idle + iowait;
  const busy = user + nice + system + irq + softirq;
  return { busy, idle: idleAll, steal, total: busy + idleAll + steal };
}

function readJiffies(): Jiffies | undefined {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether the CPU has SHA-256 instructions, from /proc/cpuinfo's flags (x86: sha_ni) or Features (arm64: sha2). */
export function shaExtensionsIn(cpuinfo: string): boolean | undefined {
  const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  if (!line) return undefined;
  const words = new Set(line.split(':')[1]!.trim().split(/\s+/));
  return words.has('sha_ni') || words.has('sha2');
}

function readShaExtensions(): boolean | undefined {
  try {
    return shaExtensionsIn(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
const TICK_MS = 20;

export interface ConditionsRecorder {
  /** Stops the monitors and returns what the run saw; later calls return the same. */
  stop(): RunConditions;
}

/** Starts recording at the start of a run; `stop()` at its end. USER_HZ is 100 on every Linux build that matters (sysconf(_SC_CLK_TCK)). */
export function recordConditions(now: () => number = Date.now, clockTicksPerSecond = 100): ConditionsRecorder {
  const startedAt = now();
  const before = loadavg();
  const j0 = readJiffies();
  const own0 = process.cpuUsage();
  const delay = monitorEventLoopDelay({ resolution: TICK_MS });
  delay.enable();
  let result: RunConditions | undefined;
  return {
    stop(): RunConditions {
      if (result) return result;
      delay.disable();
      const wallMs = Math.max(1, now() - startedAt);
      const j1 = readJiffies();
      const own = process.cpuUsage(own0);
      const late = (ns: number): number => round(Math.max(0, ns / 1e6 - TICK_MS), 2);
      const out: RunConditions = {
        loadAverage: { before: before.map((x) => round(x, 2)), after: loadavg().map((x) => round(x, 2)) },
        eventLoopDelay: { meanMs: late(delay.mean || TICK_MS * 1e6), p99Ms: late(delay.percentile(99) || TICK_MS * 1e6), maxMs: late(delay.max || TICK_MS * 1e6) },
        wallMs,
      };
      if (j0 && j1 && j1.total > j0.total) {
        const total = j1.total - j0.total;
        const busyMs = ((j1.busy - j0.busy) / clockTicksPerSecond) * 1000;
        const ownMs = (own.user + own.system) / 1000;
        out.cpu = {
          otherCores: round(Math.max(0, busyMs - ownMs) / wallMs, 2),
          stealShare: round((j1.steal - j0.steal) / total),
          idleShare: round((j1.idle - j0.idle) / total),
        };
      }
      const sha = readShaExtensions();
      if (sha !== undefined) out.shaExtensions = sha;
      result = out;
      return out;
    },
  };
}
