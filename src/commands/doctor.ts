import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { diagnose, machineProbes, renderDoctor, type DoctorReport } from '../docker/doctor.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Say which cluster drivers, registry providers and runtimes can run on this machine, and why not';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json',
    'DOCKER_HOST=unix:///tmp/d.sock <%= config.bin %> doctor --kubeconfig ~/.kube/config --context kind-pullbench',
  ];
  static override flags = {
    kubeconfig: Flags.string({ description: 'kubeconfig to check for the kubeconfig driver (default: $KUBECONFIG or ~/.kube/config)' }),
    context: Flags.string({ description: 'context to check (default: the current-context)' }),
    'registry-image': Flags.string({ description: 'image the container registry provider would run', default: 'registry:2' }),
  };

  async run(): Promise<DoctorReport> {
    const { flags } = await this.parse(Doctor);
    const report = await diagnose(machineProbes(), { kubeconfig: flags.kubeconfig, context: flags.context, registryImage: flags['registry-image'] });
    this.log(renderDoctor(report));
    return report;
  }
}
