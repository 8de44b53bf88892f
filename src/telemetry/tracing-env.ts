/**
 * What the environment says about traces (docs/configuration.md#tracing): whether it asks for
 * them, what is wrong with its endpoints, and the endpoint as the start-up line may show it. The
 * SDK itself reads the same `OTEL_*` variables; these checks run before it is loaded.
 */

/** Whether the environment asks for traces: an OTLP endpoint, and the SDK not disabled. */
export function tracingWanted(env: Record<string, string | undefined>): boolean {
  const value = (name: string) => (env[name] ?? '').trim().toLowerCase();
  if (value('OTEL_SDK_DISABLED') === 'true' || value('OTEL_TRACES_EXPORTER') === 'none') return false;
  return value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== '' || value('OTEL_EXPORTER_OTLP_ENDPOINT') !== '';
}

/**
 * What is wrong with the endpoints when tracing is wanted: the SDK drops a value it cannot parse
 * and exports to its default, http://localhost:4318, whoever listens there. Never echoes the value
 * (a URL may carry a token).
 */
export function tracingProblems(env: Record<string, string | undefined>): string[] {
  if (!tracingWanted(env)) return [];
  const problems: string[] = [];
  for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const) {
    const raw = (env[name] ?? '').trim();
    if (raw === '') continue;
    const protocol = URL.canParse(raw) ? new URL(raw).protocol : null;
    if (protocol === 'http:' || protocol === 'https:') continue;
    problems.push(`${name}: expected an http:// or https:// URL (e.g. http://collector:4318), got another value (not shown: it may hold a credential)`);
  }
  return problems;
}

/** The endpoint without credentials or query (a URL may carry a token): for the start-up line only. */
export function endpointForLog(env: Record<string, string | undefined>): string {
  const raw = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim() || (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim();
  const url = URL.canParse(raw) ? new URL(raw) : null;
  return url === null ? '(not a URL)' : `${url.protocol}//${url.host}${url.pathname}`;
}
