// Runs a rule tool (promtool, vmalert) to completion and returns its exit code and output,
// whether it succeeded or not: the tests assert on both.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ToolResult {
  code: number;
  output: string;
}

export async function runTool(
  path: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs: number },
): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run(path, args, {
      cwd: opts.cwd,
      timeout: opts.timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`,
    };
  }
}
