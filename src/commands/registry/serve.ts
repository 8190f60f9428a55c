import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { credentialFlags, credentialsFrom } from '../../cli/credential-flags.js';
import { PullbenchError } from '../../errors.js';
import type { BasicCredentials } from '../../oci/credentials.js';
import { loadUsersFile } from '../../registry/auth.js';
import { startRegistryServer } from '../../registry/server.js';
import { untilInterrupted } from '../../registry/until-interrupted.js';

export default class RegistryServe extends BaseCommand {
  static override summary = 'Serve the embedded OCI registry until interrupted';
  static override examples = [
    '<%= config.bin %> registry serve --port 5000 --storage memory',
    '<%= config.bin %> registry serve --auth token --user alice:s3cret --rate-limit 100/21600',
    'PULLBENCH_UPSTREAM_PASSWORD=... <%= config.bin %> registry serve --upstream https://registry-1.docker.io --upstream-user me',
  ];
  static override flags = {
    port: Flags.integer({ default: 5000, min: 0, max: 65535, summary: 'Port (0 picks a free one)' }),
    host: Flags.string({ default: '127.0.0.1', summary: 'Address to listen on' }),
    storage: Flags.string({ options: ['memory', 'filesystem'], default: 'filesystem', description: 'where blobs are kept (filesystem: a temp dir removed on exit)' }),
    root: Flags.string({ summary: 'Filesystem storage root (default: a temp dir removed on exit)' }),
    user: Flags.string({ multiple: true, summary: 'A user as name:password (repeatable)' }),
    'users-file': Flags.string({ summary: 'YAML/JSON list of {username, password}, or a bcrypt htpasswd file' }),
    auth: Flags.string({ options: ['none', 'basic', 'token'], default: 'none', description: 'authentication clients must present (users from --user or --users-file)' }),
    'anonymous-pull': Flags.boolean({ default: false, summary: 'With auth, let anonymous clients pull' }),
    upstream: Flags.string({ summary: 'Run as a pull-through mirror of this registry URL' }),
    ...credentialFlags('upstream'),
    'rate-limit': Flags.string({ summary: 'Manifest GETs per client per window, as N/SECONDS (e.g. 100/21600)' }),
    'error-rate': Flags.string({ summary: 'Fraction of requests answered 503 (0..1)' }),
    latency: Flags.integer({ min: 0, summary: 'Milliseconds added to every request' }),
  };

  async run(): Promise<{ url: string }> {
    const { flags } = await this.parse(RegistryServe);
    const users: Array<BasicCredentials | { username: string; bcryptHash: string }> = (flags.user ?? []).map(parseUser);
    if (flags['users-file']) users.push(...(await loadUsersFile(flags['users-file'])));
    const rate = flags['rate-limit'] ? parseRate(flags['rate-limit']) : undefined;
    const errorRate = flags['error-rate'] === undefined ? undefined : Number(flags['error-rate']);
    const registry = await startRegistryServer({
      host: flags.host,
      port: flags.port,
      storage: flags.storage as 'memory' | 'filesystem',
      rootDir: flags.root,
      auth: flags.auth as 'none' | 'basic' | 'token',
      users,
      anonymousPull: flags['anonymous-pull'],
      rateLimit: rate,
      faults: errorRate !== undefined || flags.latency ? { errorRate, latencyMs: flags.latency } : undefined,
      ...(flags.upstream
        ? { upstream: { url: flags.upstream, credentials: credentialsFrom('upstream', flags) } }
        : {}),
    });
    process.stderr.write(`serving ${registry.url} (Ctrl-C to stop)\n`);
    if (this.jsonEnabled()) this.logJson({ url: registry.url });
    await untilInterrupted();
    await registry.close();
    return { url: registry.url };
  }
}

function parseUser(value: string): BasicCredentials {
  const i = value.indexOf(':');
  if (i <= 0) throw new PullbenchError('INVALID_ARGUMENT', '--user must be name:password');
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

function parseRate(value: string): { manifestGets: number; windowMs: number } {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[1]) <= 0 || Number(m[2]) <= 0) throw new PullbenchError('INVALID_ARGUMENT', '--rate-limit must be N/SECONDS, e.g. 100/21600');
  return { manifestGets: Number(m[1]), windowMs: Number(m[2]) * 1000 };
}
