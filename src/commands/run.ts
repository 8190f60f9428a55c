import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { ExitCode } from '../cli/exit-codes.js';
import { renderSummary } from '../report/render.js';
import type { RunResults } from '../report/results.js';
import { runScenario } from '../run/run.js';
import { loadScenario } from '../scenario/load.js';

export default class Run extends BaseCommand {
  static override summary = 'Run a scenario: roll workloads out over emulated nodes and measure image pulls';
  static override examples = [
    '<%= config.bin %> run scenarios/quickstart.yaml',
    '<%= config.bin %> run scenarios/quickstart.yaml --set cluster.nodes=3 --set repeat=1 --json',
  ];
  static override args = { scenario: Args.string({ description: 'scenario YAML file', required: true }) };
  static override flags = {
    set: Flags.string({ description: 'override a field: path=value (repeatable)', multiple: true, default: [] }),
    output: Flags.string({ char: 'o', description: 'directory for results (overrides outputs.dir)' }),
  };

  async run(): Promise<RunResults> {
    const { args, flags } = await this.parse(Run);
    const loaded = await loadScenario(args.scenario, { set: flags.set });
    const show = this.interactive && !this.jsonEnabled();
    const { results, files, notes } = await runScenario(loaded, {
      onProgress: show ? (m) => this.logToStderr(m) : undefined,
      ...(flags.output ? { outputDir: flags.output } : {}),
    });
    if (!this.jsonEnabled()) {
      this.log(renderSummary(results));
      for (const f of files) this.log(`wrote ${f}`);
    }
    for (const n of notes) this.logToStderr(`note: ${n}`);
    // A failed threshold (3) wins over the failure-rate gate (5); results are printed and on disk either way.
    if (results.thresholds.some((t) => !t.passed)) process.exitCode = ExitCode.THRESHOLD_FAILED;
    else if (!results.gate.passed) process.exitCode = ExitCode.FAILURE_RATE;
    return results;
  }
}
