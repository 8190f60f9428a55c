import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { credentialsFrom } from '../../cli/credential-flags.js';
import { registryAccessFlags } from '../../cli/registry-flags.js';
import { PullbenchError } from '../../errors.js';
import { VerificationCache } from '../../supply-chain/cache.js';
import { loadTrust, readText } from '../../supply-chain/options.js';
import { loadPolicyFiles, loadReports } from '../../supply-chain/policy-files.js';
import { lintPolicies, renderFinding, type LintFinding } from '../../supply-chain/policy-lint.js';
import { verifyImages, type ImageDecisionRecord } from '../../supply-chain/admission.js';
import { imagesInManifests, type WorkloadImage } from '../../supply-chain/workloads.js';

type Row = ImageDecisionRecord & { resource: string; source: string };

export default class PolicyCheck extends BaseCommand {
  static override summary = 'Evaluate the images of Kubernetes workloads against image policies (exit 7 on deny)';
  static override examples = [
    '<%= config.bin %> policy check deploy.yaml --policy policies/',
    '<%= config.bin %> policy check k8s/*.yaml --policy policies/signed-by-release-key.yaml --insecure-ignore-tlog --json',
  ];
  static override strict = false;
  static override args = { files: Args.string({ required: true, description: 'workload YAML files (multi-document)' }) };
  static override flags = {
    policy: Flags.string({ multiple: true, required: true, description: 'policy file or directory (ClusterImagePolicy, Kyverno ClusterPolicy/Policy verifyImages, Gatekeeper K8sAllowedRepos[v2]/K8sDisallowedRepos/K8sDisallowedTags/K8sImageDigests, VulnerabilityGate)' }),
    'trusted-root': Flags.string({ description: 'sigstore trusted_root.json for keyless authorities' }),
    'ca-roots': Flags.string({ description: 'PEM CA roots for keyless authorities (private PKI)' }),
    'rekor-key': Flags.string({ description: 'Rekor public key (PEM)' }),
    'insecure-ignore-tlog': Flags.boolean({ description: 'accept signatures without a verified Rekor entry' }),
    ...registryAccessFlags,
    'vuln-report': Flags.string({ multiple: true, description: 'Trivy JSON report for VulnerabilityGate policies; matched to images by its ArtifactName or RepoDigests' }),
  };

  async run(): Promise<{ decisions: Row[]; lint: LintFinding[] }> {
    const { argv, flags } = await this.parse(PolicyCheck);
    const policies = await loadPolicyFiles(flags.policy);
    const lint = lintPolicies(policies);
    for (const f of lint) this.logToStderr(`warning: ${renderFinding(f)}`);
    const images: WorkloadImage[] = [];
    for (const file of argv as string[]) {
      images.push(...imagesInManifests(await readText(file, 'workload file'), file));
    }
    const trust = await loadTrust({
      ...(flags['trusted-root'] ? { trustedRoot: flags['trusted-root'] } : {}),
      ...(flags['ca-roots'] ? { caRoots: flags['ca-roots'] } : {}),
      ...(flags['rekor-key'] ? { rekorKey: flags['rekor-key'] } : {}),
    });
    const credentials = credentialsFrom('registry', flags);
    const cache = new VerificationCache({ access: { plainHttp: flags['plain-http'], ...(credentials ? { credentials } : {}) } });
    const scans = await loadReports((flags['vuln-report'] ?? []).map((file) => ({ file })));
    const records = await verifyImages(images, policies, {
      cache,
      scans,
      ...(trust ? { trust } : {}),
      ignoreTlog: flags['insecure-ignore-tlog'],
    });
    const decisions: Row[] = records.map((r, i) => ({ ...r, resource: images[i]!.resource, source: images[i]!.source }));
    if (!this.jsonEnabled()) this.log(renderDecisions(decisions));
    const denied = decisions.filter((d) => d.decision === 'deny');
    if (denied.length > 0) {
      throw new PullbenchError('POLICY_DENIED', `${denied.length} of ${decisions.length} images denied`, { details: { decisions, lint } });
    }
    return { decisions, lint };
  }
}

function renderDecisions(rows: Row[]): string {
  return rows
    .map((r) => [`${r.decision.toUpperCase().padEnd(5)} ${r.image}  ${r.resource}  (${r.source})`, ...r.rules.map((x) => `      ${x.result.padEnd(4)} ${x.rule}: ${x.reason}`)].join('\n'))
    .join('\n');
}
