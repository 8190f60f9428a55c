import { startFaultFront, type FaultWindow, type SteadyFaults, type StartedFaultFront } from '../net/fault-front.js';
import type { FaultRun } from '../results/model.js';
import type { FleetRegistry } from '../scenario/fleet.js';
import type { Scenario } from '../scenario/schema.js';
import { Owned } from './context.js';
import type { RunRegistries } from './registry-stage.js';

type Section = NonNullable<Scenario['registry']['faults']>;

const steady = (f: Section | undefined): SteadyFaults | undefined =>
  f && (f.errorRate > 0 || f.latency > 0) ? { errorRate: f.errorRate, latencyMs: f.latency } : undefined;

/** A peer front's second target: the node it fronts, for faults on target peers that name nodes. */
const PEER_PREFIX = 'peers@';

// Whether a front reaching `targets` meets fault `f`: its target, and for target peers with nodes, one of them.
function meets(f: Scenario['faults'][number], targets: string[]): boolean {
  if (f.target === 'peers' && f.nodes) return f.nodes.some((n) => targets.includes(`${PEER_PREFIX}${n}`));
  return targets.includes(f.target);
}

/** What the measure stage drives and reads of a fault stage, whatever applies the faults (fronts, containers). */
export interface FaultSchedule {
  /** The rollout starts: the faults timed from its start scheduled. */
  arm(at: number): void;
  /** A rollout step starts: the faults timed from it (`after`) scheduled, the first time it starts. */
  stepStarted(step: string, at: number): void;
  /** The scenario's fault windows as they fell in this repetition (ms since the epoch). */
  record(): FaultRun[];
  /** What met the pulls, by kind: requests a front faulted, or a container's stops and pauses. */
  faulted(): Record<string, number>;
}

/** When the scenario's faults are scheduled, whatever applies them: from the rollout's start, and from each step's first start (`after`). */
export abstract class TimedFaults implements FaultSchedule {
  private readonly stepsSeen = new Set<string>();
  protected readonly windows: FaultRun[] = [];

  arm(at: number): void {
    this.schedule(undefined, at);
  }

  stepStarted(step: string, at: number): void {
    if (this.stepsSeen.has(step)) return;
    this.stepsSeen.add(step);
    this.schedule(step, at);
  }

  record(): FaultRun[] {
    return [...this.windows].sort((a, b) => a.startedAt - b.startedAt);
  }

  abstract faulted(): Record<string, number>;
  /** The faults timed from `after` (a step's name; undefined: the rollout's start), which started at `at`. */
  protected abstract schedule(after: string | undefined, at: number): void;
}

/**
 * Stage `faults` (emulated clusters): a fault front before each way the rollout's pulls take, carrying the
 * faults that scenario names for it, per registry by its name (src/scenario/fleet.ts): the nodes' way to the
 * registry (targets NAME, link:NAME), its mirror's way to it (NAME, link:upstream or link:NAME.upstream), the
 * nodes' way to the mirror (MIRROR, link:MIRROR), and with topology p2p the peers' way to each node's P2P agent
 * (peers, or the nodes a fault names). The registries themselves run without faults, so seeding
 * and warm pre-pulls meet none (the fronts arm with the rollout).
 */
export class FaultStage extends TimedFaults implements AsyncDisposable {
  private readonly owned = new Owned();
  private readonly fronts: { front: StartedFaultFront; targets: string[] }[] = [];

  private constructor(private readonly scenario: Scenario) {
    super();
  }

  /**
   * The registry-side fronts, by registry name: `registries` where the nodes reach each registry, `upstreams`
   * where each one's mirror does.
   */
  static async start(scenario: Scenario, registries: RunRegistries): Promise<FaultStage & { registries: Map<string, string>; upstreams: Map<string, string> }> {
    const stage = new FaultStage(scenario);
    const ways = { registries: new Map<string, string>(), upstreams: new Map<string, string>() };
    try {
      for (const { spec, registry } of registries.list) {
        const faults = steady(spec.faults);
        ways.registries.set(spec.name, await stage.front(registry.host, [spec.name, `link:${spec.name}`], faults));
        if (spec.mirror) ways.upstreams.set(spec.name, await stage.front(registry.host, [spec.name, scenario.registries ? `link:${spec.name}.upstream` : 'link:upstream'], faults));
      }
      return Object.assign(stage, ways);
    } catch (err) {
      await stage[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** Where the nodes reach a mirror arm's mirror of a registry. */
  mirror(registry: FleetRegistry, mirrorHost: string): Promise<string> {
    const mirror = registry.mirror!;
    return this.front(mirrorHost, [mirror.name, `link:${mirror.name}`], steady(mirror.faults));
  }

  /**
   * Where node `node`'s peers reach its P2P agent (its upload link's target): a front carrying the faults on target
   * peers that name this node or no node. The node's own runtime reaches its agent directly.
   */
  peer(agentHost: string, node: string): Promise<string> {
    return this.front(agentHost, ['peers', `${PEER_PREFIX}${node}`], undefined);
  }

  /** Where the nodes reach the proxy hop. */
  proxy(proxyHost: string): Promise<string> {
    return this.front(proxyHost, ['proxy', 'link:proxy'], undefined);
  }

  /** The rollout starts: steady faults on, and the faults timed from the rollout's start scheduled. */
  override arm(at: number): void {
    for (const { front } of this.fronts) front.arm();
    super.arm(at);
  }

  /** Requests the fronts met with a fault, by kind (errorRate: the steady 503s). */
  faulted(): Record<string, number> {
    const total: Record<string, number> = {};
    for (const { front } of this.fronts) for (const [k, n] of Object.entries(front.stats().faulted)) total[k] = (total[k] ?? 0) + n;
    return total;
  }

  protected schedule(after: string | undefined, at: number): void {
    for (const f of this.scenario.faults.filter((x) => x.after === after)) {
      const window: FaultWindow = { kind: f.kind, startAt: at + f.at, endAt: at + f.at + f.for, ...(f.latency !== undefined ? { latencyMs: f.latency } : {}) };
      this.windows.push({ target: f.target, kind: f.kind, startedAt: window.startAt, endedAt: window.endAt });
      for (const { front, targets } of this.fronts) if (meets(f, targets)) front.add(window);
    }
  }

  // No front where nothing would fault: the way stays direct.
  private async front(target: string, targets: string[], steadyFaults: SteadyFaults | undefined): Promise<string> {
    if (!this.scenario.faults.some((f) => meets(f, targets)) && !steadyFaults) return target;
    const front = this.owned.add(await startFaultFront({ target, ...(steadyFaults ? { steady: steadyFaults } : {}) }));
    this.fronts.push({ front, targets });
    return front.host;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.owned[Symbol.asyncDispose]();
  }
}
