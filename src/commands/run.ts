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
    const { results, files } = await runScenario(loaded, {
      onProgress: show ? (m) => this.logToStderr(m) : undefined,
      ...(flags.output ? { outputDir: flags.output } : {}),
    });
    if (!this.jsonEnabled()) {
      this.log(renderSummary(results));
      for (const f of files) this.log(`wrote ${f}`);
    }
    // Thresholds (3) are checked before the failure-rate gate (5); both leave results on disk first.
    if (results.thresholds.some((t) => !t.passed)) this.exitWith(results, ExitCode.THRESHOLD_FAILED);
    if (!results.gate.passed) this.exitWith(results, ExitCode.FAILURE_RATE);
    return results;
  }

  private exitWith(results: RunResults, code: number): never {
    if (this.jsonEnabled()) this.logJson(results);
    this.exit(code);
  }
}
