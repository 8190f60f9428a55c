import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { compareResults } from '../compare/index.js';
import { renderHtmlReport } from '../report/html/index.js';
import { readResults } from '../results/index.js';

export default class Report extends BaseCommand {
  static override summary = 'Render a results file as one self-contained HTML report (opens offline)';
  static override examples = [
    '<%= config.bin %> report reports/quickstart/results.json -o reports/quickstart/report.html',
    '<%= config.bin %> report current.json --baseline baseline.json -o report.html',
  ];
  static override args = { results: Args.string({ required: true, description: 'results.json written by pullbench run' }) };
  static override flags = {
    baseline: Flags.string({ description: 'results.json of a baseline run: side by side, with a delta column and the comparison verdicts' }),
    output: Flags.string({ char: 'o', description: 'HTML file to write (default: report.html beside the results file)' }),
  };

  async run(): Promise<{ file: string; bytes: number }> {
    const { args, flags } = await this.parse(Report);
    const results = await readResults(args.results);
    const baseline = flags.baseline ? await readResults(flags.baseline) : undefined;
    const comparison = baseline && compareResults(baseline, results, { files: { baseline: flags.baseline, current: args.results } });
    const html = await renderHtmlReport(results, baseline && comparison ? { baseline: { results: baseline, comparison } } : {});
    const file = resolve(flags.output ?? join(dirname(args.results), 'report.html'));
    await writeFile(file, html);
    if (!this.jsonEnabled()) this.log(`wrote ${file} (${Math.round(html.length / 1000)} kB)`);
    return { file, bytes: Buffer.byteLength(html) };
  }
}
