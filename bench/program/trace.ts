/**
 * Where a `pulumi up` spent its time, from the OpenTelemetry spans the CLI writes with
 * `--otel-traces file://…` (one OTLP JSON document per line, every process's spans in it).
 */

interface Span {
  readonly service: string;
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

interface OtlpDocument {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { name: string; startTimeUnixNano: string; endTimeUnixNano: string }[] }[];
  }[];
}

export interface TraceBreakdown {
  /** The whole command, as the CLI's root span saw it. */
  readonly total: number;
  /** The language host's About before anything else: it runs `node --version` and `npm --version` for the update's metadata. */
  readonly languageHostAbout: number;
  /** Starting plugins (the language host, the command provider), overlapping time counted once. */
  readonly pluginStarts: number;
  /** From the program's start to its first resource registration: node, the TypeScript loader, the modules, the plan. */
  readonly programLoad: number;
  /** Providers creating, updating or deleting (for the command provider: the SSH sessions running the steps), overlapping time counted once. */
  readonly providerChanges: number;
  /** Everything else: state reads and writes, diffs, the engine's own bookkeeping. */
  readonly rest: number;
}

function spansOf(trace: string): Span[] {
  const spans: Span[] = [];
  for (const line of trace.split("\n").filter((text) => text.trim() !== "")) {
    const document = JSON.parse(line) as OtlpDocument;
    for (const resourceSpans of document.resourceSpans) {
      const service = resourceSpans.resource.attributes.find((attribute) => attribute.key === "service.name")?.value.stringValue ?? "";
      for (const scope of resourceSpans.scopeSpans) {
        for (const span of scope.spans) {
          spans.push({
            service,
            name: span.name,
            start: Number(BigInt(span.startTimeUnixNano) / 1000n) / 1e6,
            end: Number(BigInt(span.endTimeUnixNano) / 1000n) / 1e6,
          });
        }
      }
    }
  }
  return spans;
}

/** Seconds covered by at least one of the spans. */
function covered(spans: readonly Span[]): number {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let total = 0;
  let reach = -Infinity;
  for (const span of sorted) {
    if (span.end <= reach) continue;
    total += span.end - Math.max(span.start, reach);
    reach = span.end;
  }
  return total;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

export function traceBreakdown(trace: string): TraceBreakdown {
  const spans = spansOf(trace);
  const cli = spans.filter((span) => span.service === "pulumi-cli" || span.name === "pulumi");
  const root = spans.find((span) => span.name === "pulumi");
  if (root === undefined) throw new Error("the trace has no root `pulumi` span");
  const named = (pattern: RegExp) => cli.filter((span) => pattern.test(span.name));
  const languageHostAbout = covered(named(/^pulumirpc\.LanguageRuntime\/About$/));
  const pluginStarts = covered(named(/^newPlugin$/));
  const run = named(/^run-program$/)[0];
  const firstRegistration = Math.min(...spans.filter((span) => /RegisterResource$/.test(span.name)).map((span) => span.start));
  const programLoad = run === undefined || !Number.isFinite(firstRegistration) ? 0 : firstRegistration - run.start;
  const providerChanges = covered(named(/^pulumirpc\.ResourceProvider\/(Create|Update|Delete)$/));
  const total = root.end - root.start;
  return {
    total: round2(total),
    languageHostAbout: round2(languageHostAbout),
    pluginStarts: round2(pluginStarts),
    programLoad: round2(programLoad),
    providerChanges: round2(providerChanges),
    rest: round2(total - languageHostAbout - pluginStarts - programLoad - providerChanges),
  };
}
