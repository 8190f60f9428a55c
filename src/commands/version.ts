import { BaseCommand } from '../cli/base-command.js';
import { environmentInfo, type EnvironmentInfo } from '../util/environment.js';

export default class Version extends BaseCommand {
  static override summary = 'Print pullbench, Node.js and platform versions';
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json'];

  async run(): Promise<EnvironmentInfo> {
    await this.parse(Version);
    const info = environmentInfo();
    this.log(`pullbench ${info.pullbench} (node ${info.node}, ${info.platform}/${info.arch})`);
    return info;
  }
}
