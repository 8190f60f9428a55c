import { PullbenchError } from '../errors.js';
import type { OutageKind, RegistryOutage } from '../registry/provider.js';
import type { FaultRun } from '../results/model.js';
import { CONTAINER_FAULT_ACTIONS, type Scenario } from '../scenario/schema.js';
import { TimedFaults } from './fault-stage.js';

type Fault = Scenario['faults'][number];
const OUTAGE_OF: Record<keyof typeof CONTAINER_FAULT_ACTIONS, OutageKind> = { refuse: 'stop', stall: 'pause' };

/**
 * Stage `faults` on a real cluster (kind, k3s): its nodes reach the registry and mirror containers themselves, so a
 * fault is done to the container: `refuse` stops it for the window (connections refused, then started again with
 * its storage), `stall` pauses it (connections accepted, nothing answered until it is unpaused). The scenario
 * schema refuses every other fault for these drivers before the run (checkRealClusterFaults). Windows are recorded
 * as the container went down and answered again, so recovery counts from when the registry was back.
 */
export class ContainerFaultStage extends TimedFaults implements AsyncDisposable {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly counts: Record<string, number> = {};
  /** Outages begun and not ended yet, to end on dispose (a failed or interrupted run leaves no container down). */
  private readonly down = new Map<RegistryOutage, OutageKind>();
  private readonly errors: string[] = [];
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;

  /**
   * @param targets the containers by fault target (`registry`, and `mirror` on a mirror arm); a fault whose target
   * this arm has not (a mirror fault on a direct arm) is not applied.
   */
  constructor(
    private readonly faults: readonly Fault[],
    private readonly targets: ReadonlyMap<string, RegistryOutage | undefined>,
    private readonly now: () => number = Date.now,
  ) {
    super();
    for (const [i, f] of faults.entries()) {
      if (!(f.kind in OUTAGE_OF)) throw new PullbenchError('INVALID_ARGUMENT', `faults[${i}]: fault ${f.kind} on ${f.target} cannot be done to a registry container (refuse or stall only)`);
      if (targets.has(f.target) && !targets.get(f.target)) {
        throw new PullbenchError('INVALID_ARGUMENT', `faults[${i}]: fault ${f.kind} on ${f.target}: its provider cannot stop or pause it (provider container can)`);
      }
    }
  }

  override record(): FaultRun[] {
    if (this.errors.length > 0) throw new PullbenchError('RUN_INVALID', `the registry container's faults were not applied as scheduled: ${this.errors.join('; ')}`);
    return super.record();
  }

  faulted(): Record<string, number> {
    return { ...this.counts };
  }

  protected schedule(after: string | undefined, at: number): void {
    for (const f of this.faults.filter((x) => x.after === after)) {
      const outage = this.targets.get(f.target);
      if (!outage) continue;
      const kind = OUTAGE_OF[f.kind as keyof typeof OUTAGE_OF];
      const action = CONTAINER_FAULT_ACTIONS[f.kind as keyof typeof CONTAINER_FAULT_ACTIONS];
      const run: FaultRun = { target: f.target, kind: f.kind, startedAt: at + f.at, endedAt: at + f.at + f.for, action };
      this.windows.push(run);
      this.at(run.startedAt, async () => {
        await outage.begin(kind);
        this.down.set(outage, kind);
        run.startedAt = this.now();
        this.counts[action] = (this.counts[action] ?? 0) + 1;
      }, `${action} of ${f.target}`);
      this.at(run.endedAt, async () => {
        if (!this.down.has(outage)) return;
        await outage.end(kind);
        this.down.delete(outage);
        run.endedAt = this.now();
      }, `ending ${action} of ${f.target}`);
    }
  }

  // Container operations run one at a time, in the order their times come.
  private at(when: number, op: () => Promise<void>, what: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.queue = this.queue.then(() => (this.disposed ? undefined : op().catch((err: unknown) => void this.errors.push(`${what}: ${(err as Error).message}`))));
    }, Math.max(0, when - this.now()));
    this.timers.add(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.queue;
    for (const [outage, kind] of this.down) await outage.end(kind).catch(() => undefined);
    this.down.clear();
  }
}
