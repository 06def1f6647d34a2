// The HTTP request histogram, recorded without allocating per observation. prom-client's
// Histogram.observe({ labels, value }) validates the label set, hashes it into a key string and
// looks the series up on every call, and its exemplars add an object and a timestamp; profiled
// on the MES (docs/benchmarks.md "otel") that was about 5 us per request. Here a request's
// series is found through nested Maps (method, route, status code: the label values are
// interned strings and a small integer), and observing adds to its counters in place.
//
// It is a prom-client metric by duck type, as prom-client's own are across copies: a Registry
// renders it (getForPromString, get), resets it and aggregates it like a Histogram of the same
// name, buckets and labels; exemplars come out in the same shape for the OpenMetrics text.

export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative), the last slot for +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  /** The last exemplar of each bucket (as prom-client keeps it), undefined until one is taken. */
  readonly exemplars: (SeriesExemplar | undefined)[];
  /** When each bucket last took an exemplar (the throttle), -Infinity before. */
  readonly exemplarAt: Float64Array;
}

interface SeriesExemplar {
  labelSet: { trace_id: string; span_id: string };
  value: number;
  timestamp: number;
}

interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: SeriesExemplar | null;
}

/** What prom-client's Registry reads from a metric. */
interface MetricData {
  name: string;
  help: string;
  type: string;
  values: Sample[];
  aggregator: string;
}

export interface RequestHistogramOptions {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  /** Shortest time between two exemplars of one series and bucket, ms. */
  readonly exemplarIntervalMs: number;
}

export class RequestHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['method', 'route', 'status_code'] as const;
  readonly upperBounds: readonly number[];
  readonly #exemplarIntervalMs: number;
  #byMethod = new Map<string, Map<string, Map<number, HistogramSeries>>>();
  #all: HistogramSeries[] = [];

  constructor(options: RequestHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.upperBounds = [...options.buckets].sort((a, b) => a - b);
    this.#exemplarIntervalMs = options.exemplarIntervalMs;
  }

  /** The series of one label set, created on first use. */
  series(method: string, route: string, statusCode: number): HistogramSeries {
    let byRoute = this.#byMethod.get(method);
    if (byRoute === undefined) this.#byMethod.set(method, (byRoute = new Map()));
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) byRoute.set(route, (byStatus = new Map()));
    let series = byStatus.get(statusCode);
    if (series === undefined) {
      const slots = this.upperBounds.length + 1;
      series = {
        labels: { method, route, status_code: String(statusCode) },
        counts: new Float64Array(slots),
        sum: 0,
        count: 0,
        exemplars: new Array<SeriesExemplar | undefined>(slots).fill(undefined),
        exemplarAt: new Float64Array(slots).fill(-Infinity),
      };
      byStatus.set(statusCode, series);
      this.#all.push(series);
    }
    return series;
  }

  /** Adds one observation; returns its bucket (the index into `counts`). */
  observe(series: HistogramSeries, value: number): number {
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    series.counts[bucket]! += 1;
    series.sum += value;
    series.count += 1;
    return bucket;
  }

  /**
   * Keeps the trace of this observation as its bucket's exemplar when the bucket took none in
   * the last interval (`nowMs` on the caller's clock). True when it did.
   */
  offerExemplar(
    series: HistogramSeries,
    bucket: number,
    value: number,
    nowMs: number,
    traceId: string,
    spanId: string,
  ): boolean {
    if (nowMs - series.exemplarAt[bucket]! < this.#exemplarIntervalMs) return false;
    series.exemplarAt[bucket] = nowMs;
    series.exemplars[bucket] = {
      labelSet: { trace_id: traceId, span_id: spanId },
      value,
      timestamp: Date.now() / 1000,
    };
    return true;
  }

  /** prom-client's Registry renders the Prometheus text from this (labels shared per series). */
  getForPromString(): Promise<MetricData> {
    const values: Sample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#all) {
      let cumulative = 0;
      for (let i = 0; i <= this.upperBounds.length; i++) {
        cumulative += series.counts[i]!;
        values.push({
          labels: { le: i < this.upperBounds.length ? this.upperBounds[i]! : '+Inf' },
          sharedLabels: series.labels,
          value: cumulative,
          metricName: bucketName,
          exemplar: series.exemplars[i] ?? null,
        });
      }
      values.push(
        {
          labels: {},
          sharedLabels: series.labels,
          value: series.sum,
          metricName: `${this.name}_sum`,
        },
        {
          labels: {},
          sharedLabels: series.labels,
          value: series.count,
          metricName: `${this.name}_count`,
        },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** The same with each sample's labels whole (what prom-client's get() returns). */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    for (const sample of data.values) {
      sample.labels = { ...sample.labels, ...sample.sharedLabels };
      delete sample.sharedLabels;
    }
    return data;
  }

  reset(): void {
    this.#byMethod = new Map();
    this.#all = [];
  }
}
