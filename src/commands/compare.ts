import { writeFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { compareResults, parseTolerances, readResults, renderComparisonJunit, renderComparisonMarkdown, renderComparisonTable, type Comparison } from '../compare/index.js';
import { PullbenchError } from '../errors.js';

export default class Compare extends BaseCommand {
  static override summary = 'Compare two results files: per arm and metric, regressed / improved / unchanged given the noise (exit 4 on a regression, 6 not comparable)';
  static override examples = [
    '<%= config.bin %> compare baseline/results.json reports/quickstart/results.json',
    '<%= config.bin %> compare base.json cur.json --tolerance pullP95=30 --tolerance failureRate=0 --junit compare.xml --markdown "$GITHUB_STEP_SUMMARY"',
  ];
  static override args = {
    baseline: Args.string({ required: true, description: 'results.json of the baseline run' }),
    current: Args.string({ required: true, description: 'results.json of the run to judge' }),
  };
  static override flags = {
    tolerance: Flags.string({ char: 't', multiple: true, default: [], description: 'metric=percent (pullP50, pullP95, pullWithWaitingP50/P95, rolloutDuration, failureRate [pp], registryBytes, upstreamPulls, tooManyRequests; pull, pullWithWaiting, * for several)' }),
    junit: Flags.string({ description: 'write JUnit XML here (one testcase per arm and metric)' }),
    markdown: Flags.string({ description: 'write a Markdown summary here (appends, as $GITHUB_STEP_SUMMARY expects)' }),
  };

  async run(): Promise<Comparison> {
    const { args, flags } = await this.parse(Compare);
    const tolerances = parseTolerances(flags.tolerance);
    const [baseline, current] = await Promise.all([readResults(args.baseline), readResults(args.current)]);
    const comparison = compareResults(baseline, current, { tolerances, files: { baseline: args.baseline, current: args.current } });
    if (flags.junit) await writeFile(flags.junit, renderComparisonJunit(comparison));
    if (flags.markdown) await writeFile(flags.markdown, renderComparisonMarkdown(comparison), { flag: 'a' });
    if (comparison.reasons.length > 0) {
      throw new PullbenchError('NOT_COMPARABLE', `the runs cannot be compared: ${comparison.reasons.join('; ')}`, { details: { reasons: comparison.reasons } });
    }
    if (!this.jsonEnabled()) this.log(renderComparisonTable(comparison));
    // Like `pullbench run` with thresholds: the comparison is printed either way, the exit code carries the verdict.
    if (comparison.verdict === 'regressed') this.failWith('REGRESSION');
    return comparison;
  }
}
