import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { PullbenchError } from '../../errors.js';
import { loadPolicyFiles } from '../../supply-chain/policy-files.js';
import { lintPolicies, renderFinding, type LintFinding } from '../../supply-chain/policy-lint.js';

export default class PolicyLint extends BaseCommand {
  static override summary = 'Find policy entries that admit look-alike images or miss the spelling the cluster matches (exit 7 on a bypass)';
  static override examples = ['<%= config.bin %> policy lint policies/', '<%= config.bin %> policy lint policies/registry-hygiene.yaml --strict --json'];
  static override strict = false;
  static override args = { files: Args.string({ required: true, description: 'policy files or directories' }) };
  static override flags = {
    strict: Flags.boolean({ description: 'also fail on findings that only deny images meant to pass' }),
  };

  async run(): Promise<{ findings: LintFinding[] }> {
    const { argv, flags } = await this.parse(PolicyLint);
    const findings = lintPolicies(await loadPolicyFiles(argv as string[]));
    if (!this.jsonEnabled()) this.log(findings.length === 0 ? 'no findings' : findings.map(renderFinding).join('\n'));
    const failing = findings.filter((f) => f.severity === 'bypass' || flags.strict);
    if (failing.length > 0) throw new PullbenchError('POLICY_LINT_FAILED', `${failing.length} finding(s) ${flags.strict ? '' : 'let images through '}(${findings.length} in all)`, { details: { findings } });
    return { findings };
  }
}
