import { writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { measureCalibration, type Calibration } from '../model/calibration.js';

export default class Calibrate extends BaseCommand {
  static override summary = 'Measure the embedded registry and mirror for the model driver (service time, concurrency, egress)';
  static override examples = ['<%= config.bin %> calibrate --out calibration.json', '<%= config.bin %> calibrate --json'];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'write the calibration here, for a scenario\'s cluster.calibration' }),
  };

  async run(): Promise<Calibration> {
    const { flags } = await this.parse(Calibrate);
    this.logToStderr('measuring the embedded registry and mirror (a few seconds)');
    const calibration = await measureCalibration();
    if (flags.out) await writeFile(flags.out, `${JSON.stringify(calibration, null, 2)}\n`);
    for (const side of ['registry', 'mirror'] as const) {
      const c = calibration[side];
      this.log(`${side}: ${c.serviceMs} ms per request, ${c.concurrency} at once, ${(c.egressBytesPerMs / 1000).toFixed(0)} MB/s egress`);
    }
    return calibration;
  }
}
