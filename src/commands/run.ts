import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { progressRenderer } from '../cli/progress.js';
import { renderComparisonTable } from '../compare/index.js';
import { PullbenchError } from '../errors.js';
import { renderSummary } from '../report/render.js';
import { readResults, type RunResults } from '../results/index.js';
import { runScenario } from '../run/run.js';
import { loadScenario } from '../scenario/load.js';
import { interruptSignal } from '../util/cleanup.js';

export default class Run extends BaseCommand {
  static override summary = 'Run a scenario: roll workloads out over emulated nodes and measure image pulls';
  static override examples = [
    '<%= config.bin %> run scenarios/quickstart.yaml',
    '<%= config.bin %> run scenarios/quickstart.yaml --set cluster.nodes=3 --set repeat=1 --json',
    '<%= config.bin %> run scenarios/quickstart.yaml --baseline reports/last-good/results.json',
  ];
  static override args = { scenario: Args.string({ description: 'scenario YAML file', required: true }) };
  static override flags = {
    set: Flags.string({ description: 'override a field: path=value (repeatable)', multiple: true, default: [] }),
    output: Flags.string({ char: 'o', description: 'directory for results (overrides outputs.dir)' }),
    baseline: Flags.string({ description: 'results.json of an earlier run: compare at the end (exit 4 on a regression)' }),
    'ignore-memory-estimate': Flags.boolean({ description: 'run even when the memory estimate says the run does not fit this machine (docs/scale.md#memory)' }),
  };

  async run(): Promise<RunResults> {
    const { args, flags } = await this.parse(Run);
    const loaded = await loadScenario(args.scenario, { set: flags.set });
    // Read before the run so that a missing or malformed baseline fails in seconds, not after it.
    const baseline = flags.baseline ? await readResults(flags.baseline) : undefined;
    const { results, files, notes, comparison } = await runScenario(loaded, {
      // --json keeps stderr for errors; a terminal gets a line per readiness change, a log one every few seconds.
      ...(this.jsonEnabled() ? {} : { onProgress: progressRenderer((line) => this.logToStderr(line), { interactive: this.interactive }) }),
      ...(flags.output ? { outputDir: flags.output } : {}),
      ...(baseline && flags.baseline ? { baseline, baselineFile: flags.baseline } : {}),
      signal: interruptSignal(),
      ignoreMemoryEstimate: flags['ignore-memory-estimate'],
    });
    if (!this.jsonEnabled()) {
      this.log(renderSummary(results));
      for (const f of files) this.log(f.endsWith('.html') ? `report: ${f} (open it in a browser for the charts)` : `wrote ${f}`);
    }
    for (const n of notes) this.logToStderr(`note: ${n}`);
    if (comparison && !this.jsonEnabled()) this.log(renderComparisonTable(comparison));
    if (comparison && comparison.reasons.length > 0) {
      throw new PullbenchError('NOT_COMPARABLE', `not comparable with ${flags.baseline}: ${comparison.reasons.join('; ')}`, {
        details: { reasons: comparison.reasons },
      });
    }
    // A failed threshold (3) wins over the failure-rate gate (5), which wins over a regression (4);
    // results are printed and on disk either way.
    if (results.thresholds.some((t) => !t.passed)) this.failWith('THRESHOLD_FAILED');
    else if (!results.gate.passed) this.failWith('FAILURE_RATE_EXCEEDED');
    else if (comparison?.verdict === 'regressed') this.failWith('REGRESSION');
    return results;
  }
}
