import { open } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import {
  analyzeMesh,
  DEFAULT_PRICE_MODEL,
  DEFAULTS as MESH_DEFAULTS,
  MeshError,
  priceMesh,
  PriceModelError,
  type MeshAnalysis,
  type PriceQuote,
} from '@meskit/pricing-runner';
import { CliError } from '../errors.js';
import { EXIT_CODES } from '../exit-codes.js';
import type { CliContext, RegisterCommand } from '../program.js';

interface PriceCommandOptions {
  json?: boolean;
  alloy?: string;
  maxBytes?: number;
}

/** One file's outcome: the analysis and price, or why there is none. */
type FileResult =
  | { file: string; analysis: MeshAnalysis; price: PriceQuote | null; priceError?: string }
  | { file: string; error: { code: string; message: string } };

function positiveInt(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return value;
}

/**
 * Reads at most `maxBytes` (+1, to tell "too large" from "exactly the limit") without trusting
 * the size the file system reports: the file may grow while it is read.
 */
async function readBounded(file: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new MeshError('TOO_LARGE', `${file} is ${size} bytes, over --max-bytes ${maxBytes}`);
    }
    const buffer = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) {
        throw new MeshError('TOO_LARGE', `${file} grew past --max-bytes ${maxBytes} while read`);
      }
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

async function priceFile(
  file: string,
  opts: Required<Pick<PriceCommandOptions, 'maxBytes'>> & PriceCommandOptions,
): Promise<FileResult> {
  let analysis: MeshAnalysis;
  try {
    analysis = analyzeMesh(await readBounded(file, opts.maxBytes), { maxBytes: opts.maxBytes });
  } catch (error) {
    if (error instanceof MeshError)
      return { file, error: { code: error.code, message: error.message } };
    const code = (error as NodeJS.ErrnoException).code ?? 'READ_FAILED';
    return { file, error: { code, message: `cannot read ${file}: ${(error as Error).message}` } };
  }
  // A volume that cannot be trusted (open or inverted mesh) is not priced: a wrong price is
  // worse than none. The analysis still says why.
  if (!analysis.confidence.volumeTrusted) {
    return {
      file,
      analysis,
      price: null,
      priceError: `not priced: ${analysis.confidence.reasons.join('; ')}`,
    };
  }
  try {
    return { file, analysis, price: priceMesh(analysis, opts.alloy ? { alloy: opts.alloy } : {}) };
  } catch (error) {
    if (error instanceof PriceModelError)
      return { file, analysis, price: null, priceError: error.message };
    throw error;
  }
}

function formatText(result: FileResult): string {
  if ('error' in result) return `${result.file}: ${result.error.code}: ${result.error.message}\n`;
  const a = result.analysis;
  const lines = [
    `${result.file} (${a.format})`,
    `  triangles   ${a.triangles.toLocaleString('en-US')}`,
    `  volume      ${a.volume.toFixed(3)} mm³`,
    `  area        ${a.area.toFixed(3)} mm²`,
    `  size        ${a.bbox.max.map((max, i) => (max - a.bbox.min[i]!).toFixed(2)).join(' x ')} mm`,
    `  watertight  ${a.watertight === null ? 'not checked' : a.watertight ? 'yes' : 'no'}, ${a.shells ?? '?'} shell(s), ${a.degenerateFaces} degenerate face(s)`,
  ];
  for (const reason of a.confidence.reasons) lines.push(`  note        ${reason}`);
  if (result.price) {
    const p = result.price;
    lines.push(
      `  price       ${p.total.toFixed(2)} ${p.currency} (${p.alloy}, ${p.metalGrams.toFixed(2)} g, model ${p.modelVersion})`,
    );
    for (const item of p.items)
      lines.push(
        `    ${item.name.padEnd(18)} ${item.amount.toFixed(2).padStart(10)}  ${item.detail}`,
      );
  } else {
    lines.push(`  price       ${result.priceError ?? 'none'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `meskit price FILE...`: analyses 3D models and prices them with the jewelry price model. */
export const registerPriceCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('price')
    .summary('analyse 3D models (STL, OBJ, 3MF) and price them')
    .description(
      'Analyses each model (volume, area, watertightness, shells) and prices it with the jewelry price model. A model whose volume cannot be trusted (open or inverted mesh) is analysed but not priced.',
    )
    .argument('<files...>', 'model files: binary or ASCII STL, OBJ, 3MF')
    .option('--json', 'print one JSON object per file, one per line')
    .option(
      '--alloy <name>',
      `alloy of the price model (${Object.keys(DEFAULT_PRICE_MODEL.alloys).join(', ')}; default ${DEFAULT_PRICE_MODEL.defaultAlloy})`,
    )
    .option(
      '--max-bytes <n>',
      `largest file accepted (default ${MESH_DEFAULTS.maxBytes})`,
      positiveInt,
    )
    .addHelpText(
      'after',
      '\nA file that cannot be read or parsed is reported with its error code (e.g. TRUNCATED, BAD_COUNT, ZIP_BOMB) and makes the exit code 1.',
    )
    .action(async (files: string[], options: PriceCommandOptions) => {
      if (options.alloy !== undefined && !(options.alloy in DEFAULT_PRICE_MODEL.alloys)) {
        throw new CliError(
          'USAGE',
          `unknown alloy "${options.alloy}": expected one of ${Object.keys(DEFAULT_PRICE_MODEL.alloys).join(', ')}`,
        );
      }
      const opts = { ...options, maxBytes: options.maxBytes ?? MESH_DEFAULTS.maxBytes };
      let failed = false;
      for (const file of files) {
        const result = await priceFile(file, opts);
        if ('error' in result || result.price === null) failed = true;
        if (options.json) {
          const { file: name, ...rest } = result;
          const body =
            'error' in rest
              ? { file: name, error: rest.error }
              : {
                  file: name,
                  ...rest.analysis,
                  price: rest.price,
                  ...(rest.priceError ? { priceError: rest.priceError } : {}),
                };
          ctx.stdout.write(`${JSON.stringify(body)}\n`);
        } else {
          ctx.stdout.write(formatText(result));
        }
      }
      if (failed) ctx.setExitCode(EXIT_CODES.failed);
    });
};
