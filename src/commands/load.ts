import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialFlags, credentialsFrom } from '../cli/credential-flags.js';
import { LOAD_PROFILES, parseMix, renderLoadResult, runLoad, type LoadProfile, type LoadResult } from '../load/index.js';
import { formatBytes, parseDuration } from '../util/units.js';

export default class Load extends BaseCommand {
  static override summary = 'Storm a registry or mirror the way a large rollout does (autocannon)';
  static override examples = [
    '<%= config.bin %> load --registry http://127.0.0.1:5000 --image library/nginx:1.27 --profile manifest-head --connections 50 --duration 10s',
    'REG_PASSWORD=... <%= config.bin %> load --registry https://registry.example.com --image team/app:v2 --profile mix --mix manifest-head=1,manifest-get=1,blob-get=4 --registry-user ci --registry-password-env REG_PASSWORD --rate 500 --json',
  ];
  static override flags = {
    registry: Flags.string({ required: true, summary: 'Registry base URL, e.g. http://127.0.0.1:5000' }),
    image: Flags.string({ required: true, summary: 'Image in that registry, repo:tag or repo@digest' }),
    profile: Flags.string({ required: true, options: [...LOAD_PROFILES], summary: 'Request pattern' }),
    connections: Flags.integer({ default: 10, min: 1, max: 10_000, summary: 'Concurrent connections' }),
    duration: Flags.string({ default: '10s', summary: 'How long to run: 30s, 2m, 1m30s' }),
    amount: Flags.integer({ min: 1, summary: 'Stop after this many requests instead of after --duration' }),
    rate: Flags.integer({ min: 1, summary: 'Requests per second across all connections (default: as fast as possible)' }),
    mix: Flags.string({ summary: 'Weights for --profile mix, e.g. manifest-head=1,manifest-get=1,blob-get=3,token=0' }),
    platform: Flags.string({ summary: 'Platform to pick from an index (default: this host), e.g. linux/arm64' }),
    ...credentialFlags('registry', { user: 'user', passwordEnv: 'password-env' }),
    timeout: Flags.integer({ default: 10, min: 1, max: 600, summary: 'Seconds before a request counts as timed out' }),
  };

  async run(): Promise<LoadResult> {
    const { flags } = await this.parse(Load);
    const show = this.interactive && !this.jsonEnabled();
    const result = await runLoad(
      {
        registry: flags.registry,
        image: flags.image,
        profile: flags.profile as LoadProfile,
        connections: flags.connections,
        ...(flags.amount !== undefined ? { amount: flags.amount } : { durationSeconds: parseDuration(flags.duration, '--duration') / 1000 }),
        ...(flags.rate !== undefined ? { rate: flags.rate } : {}),
        ...(flags.mix ? { mix: parseMix(flags.mix) } : {}),
        ...(flags.platform ? { platform: flags.platform } : {}),
        credentials: credentialsFrom('registry', flags),
        timeoutSeconds: flags.timeout,
      },
      show ? { onTick: (t) => process.stderr.write(`\r${(t.elapsedMs / 1000).toFixed(0)} s  ${t.requests} req/s  ${formatBytes(t.bytes)}/s  total ${t.totalRequests}   `) } : {},
    );
    if (show) process.stderr.write('\n');
    if (!this.jsonEnabled()) this.log(renderLoadResult(result));
    for (const w of result.warnings ?? []) this.logToStderr(`warning: ${w}`);
    return result;
  }
}

