import type { RunEventSink } from '../core/progress.js';
import type { LoadedScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import type { RealRun } from './real-cluster.js';
import type { Admission, RunSigner } from './verify-stage.js';

/**
 * What every stage of one `pullbench run` may read, set once by the run-level
 * stages (docs/architecture.md#the-run-as-stages) and read-only afterwards.
 */
export interface RunContext {
  /** The scenario as the run sees it (byte-scaled). */
  readonly loaded: LoadedScenario;
  readonly scenario: Scenario;
  /** Progress lines; the command decides whether to show them. */
  readonly progress: RunEventSink;
  /** A real cluster (kind, k3s, kubeconfig), opened once for the whole run. */
  readonly real?: RealRun;
  /** The signing stage's signer, when the scenario signs. */
  readonly signer?: RunSigner;
  /** The verify stage's decisions, when the scenario verifies: what is rolled out, what is denied. */
  readonly admitted?: Admission;
  /** Aborted on Ctrl-C: the cluster's start and the rollout stop at it. */
  readonly signal?: AbortSignal;
}

/** Things a stage started, disposed in reverse order of start, each once. */
export class Owned implements AsyncDisposable {
  private readonly items: AsyncDisposable[] = [];

  add<T extends AsyncDisposable>(item: T): T {
    this.items.push(item);
    return item;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const d of this.items.splice(0).reverse()) await d[Symbol.asyncDispose]();
  }
}
