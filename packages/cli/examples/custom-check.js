// A program that embeds `meskit doctor` with one extra check, the way a later package
// (or an operator's own script) adds diagnostics. Run from the repo root after a build:
//   node packages/cli/examples/custom-check.js doctor --only disk
import { statfs } from 'node:fs/promises';
import { CheckRegistry, builtinChecks, runCli } from '@meskit/cli';

/** Warns when the temp folder's file system is more than 90 % full. */
const diskCheck = {
  id: 'disk.tmp',
  title: 'Free space for temp files',
  async run(ctx) {
    ctx.step('reading file-system statistics of /tmp');
    const stats = await statfs('/tmp');
    const usedPercent = 100 - (stats.bavail / stats.blocks) * 100;
    const status = usedPercent > 90 ? 'warn' : 'pass';
    return {
      status,
      message: `/tmp is ${usedPercent.toFixed(0)} % full`,
      details: { usedPercent },
    };
  },
};

const checks = new CheckRegistry(builtinChecks()).register(diskCheck);
process.exitCode = await runCli(process.argv.slice(2), { checks });
