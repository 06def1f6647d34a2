import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace';

/** Sampler names of OTEL_TRACES_SAMPLER this package implements (the spec's built-in ones). */
export const SUPPORTED_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

type SamplerName = (typeof SUPPORTED_SAMPLERS)[number];

/** The spec's default when OTEL_TRACES_SAMPLER is unset. */
const DEFAULT_SAMPLER: SamplerName = 'parentbased_always_on';

export interface SamplerProblem {
  /** The env var at fault. */
  readonly variable: 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG';
  readonly message: string;
}

/**
 * Builds the sampler OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG describe. Never throws:
 * an unknown name falls back to `parentbased_always_on`, a malformed or out-of-range ratio to
 * 1.0 (both the spec's defaults), and each problem is returned so the caller can warn once.
 */
export function samplerFromEnv(
  rawName: string | undefined,
  rawArg: string | undefined,
): { sampler: Sampler; description: string; problems: SamplerProblem[] } {
  const problems: SamplerProblem[] = [];
  let name = (rawName ?? '').trim().toLowerCase() || DEFAULT_SAMPLER;
  if (!(SUPPORTED_SAMPLERS as readonly string[]).includes(name)) {
    problems.push({
      variable: 'OTEL_TRACES_SAMPLER',
      message: `OTEL_TRACES_SAMPLER="${rawName}" is not supported (expected one of ${SUPPORTED_SAMPLERS.join(', ')}); using ${DEFAULT_SAMPLER}`,
    });
    name = DEFAULT_SAMPLER;
  }
  const samplerName = name as SamplerName;
  const usesRatio = samplerName === 'traceidratio' || samplerName === 'parentbased_traceidratio';
  let ratio = 1;
  if (usesRatio && rawArg !== undefined && rawArg.trim() !== '') {
    const parsed = Number(rawArg.trim());
    if (Number.isFinite(parsed) && parsed >= 0 && parsed <= 1) {
      ratio = parsed;
    } else {
      problems.push({
        variable: 'OTEL_TRACES_SAMPLER_ARG',
        message: `OTEL_TRACES_SAMPLER_ARG="${rawArg}" is not a ratio between 0 and 1 for ${samplerName}; sampling every trace (1.0)`,
      });
    }
  }
  const sampler = build(samplerName, ratio);
  const description = usesRatio ? `${samplerName}(${ratio})` : samplerName;
  return { sampler, description, problems };
}

/** The samplers built here: none of them looks at a span's attributes. */
const BUILT = new WeakSet<Sampler>();

/**
 * Whether `sampler` decides without looking at the attributes given at span start (the
 * spec's built-in samplers, as built here), so a span's attributes may be computed only once
 * it is known to record. A sampler of the user's own: assume it looks.
 */
export function samplerIgnoresAttributes(sampler: Sampler): boolean {
  return BUILT.has(sampler);
}

/**
 * Whether `sampler` drops every span whose parent was not sampled, local or remote (the
 * built-in parent-based samplers with their default delegates): a span started under such a
 * parent may then simply be that parent's non-recording span.
 */
export function samplerDropsUnsampledChildren(sampler: Sampler): boolean {
  return BUILT.has(sampler) && sampler instanceof ParentBasedSampler;
}

function build(name: SamplerName, ratio: number): Sampler {
  const sampler = create(name, ratio);
  BUILT.add(sampler);
  return sampler;
}

function create(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
