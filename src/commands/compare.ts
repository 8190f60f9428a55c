import { writeFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import {
  analyseHistory, compareResults, historyFiles, parseTolerances, readResults, renderComparisonJunit, renderComparisonMarkdown, renderComparisonTable, renderHistory,
  type Comparison, type History,
} from '../compare/index.js';
import { PullbenchError } from '../errors.js';

export default class Compare extends BaseCommand {
  static override summary =
    'Compare two results files: per arm and metric, regressed / improved / unchanged given the noise (exit 4 on a regression, 6 not comparable, 9 inconclusive: a busier machine could explain the change); --history: change points over a nightly series';
  static override examples = [
    '<%= config.bin %> compare baseline/results.json reports/quickstart/results.json',
    '<%= config.bin %> compare base.json cur.json --tolerance pullP95=30 --tolerance failureRate=0 --junit compare.xml --markdown "$GITHUB_STEP_SUMMARY"',
    '<%= config.bin %> compare --history nightly/ reports/nightly/results.json',
  ];
  static override strict = false;
  static override args = {
    baseline: Args.string({ description: 'results.json of the baseline run (with --history: a results file or a directory of them)' }),
    current: Args.string({ description: 'results.json of the run to judge (with --history: more files or directories)' }),
  };
  static override flags = {
    tolerance: Flags.string({ char: 't', multiple: true, default: [], description: 'metric=percent (pullP50, pullP95, pullWithWaitingP50/P95, rolloutDuration, failureRate [pp], registryBytes, upstreamPulls, tooManyRequests; pull, pullWithWaiting, * for several)' }),
    junit: Flags.string({ description: 'write JUnit XML here (one testcase per arm and metric)' }),
    markdown: Flags.string({ description: 'write a Markdown summary here (appends, as $GITHUB_STEP_SUMMARY expects)' }),
    history: Flags.boolean({ description: 'the arguments are a nightly series (files, or directories searched for results.json): find change points per arm and metric (E-Divisive); exit 4 when the newest level regressed' }),
  };

  async run(): Promise<Comparison | History> {
    const { argv, flags } = await this.parse(Compare);
    const tolerances = parseTolerances(flags.tolerance);
    const paths = argv as string[];
    if (flags.history) {
      const files = await historyFiles(paths);
      const history = analyseHistory(await Promise.all(files.map(async (file) => ({ file, results: await readResults(file) }))), { tolerances });
      if (!this.jsonEnabled()) this.log(renderHistory(history));
      if (history.verdict === 'regressed') this.failWith('REGRESSION');
      return history;
    }
    if (paths.length !== 2) throw new PullbenchError('INVALID_ARGUMENT', `compare takes two results files (baseline, current), got ${paths.length}; --history takes a series`);
    const [baselineFile, currentFile] = paths as [string, string];
    const [baseline, current] = await Promise.all([readResults(baselineFile), readResults(currentFile)]);
    const comparison = compareResults(baseline, current, { tolerances, files: { baseline: baselineFile, current: currentFile } });
    if (flags.junit) await writeFile(flags.junit, renderComparisonJunit(comparison));
    if (flags.markdown) await writeFile(flags.markdown, renderComparisonMarkdown(comparison), { flag: 'a' });
    if (comparison.reasons.length > 0) {
      throw new PullbenchError('NOT_COMPARABLE', `the runs cannot be compared: ${comparison.reasons.join('; ')}`, { details: { reasons: comparison.reasons } });
    }
    if (!this.jsonEnabled()) this.log(renderComparisonTable(comparison));
    // Like `pullbench run` with thresholds: the comparison is printed either way, the exit code carries the verdict.
    if (comparison.verdict === 'regressed') this.failWith('REGRESSION');
    else if (comparison.verdict === 'inconclusive') this.failWith('INCONCLUSIVE');
    return comparison;
  }
}
