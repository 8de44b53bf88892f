/**
 * Components that are degraded right now, as `/admin/status` shows them (docs/http-api.md#status). Entering
 * and leaving is appended to the event log (which feeds alerts). Breakers that are not closed
 * are read from the store at status time rather than kept here: they are shared by instances.
 */
import type { Logger } from 'pino';

export interface DegradedEntry {
  component: string;
  reason: string;
  since: string;
}

export class DegradedState {
  private readonly entries = new Map<string, DegradedEntry>();

  constructor(
    private readonly deps: {
      logger: Logger;
      /** Appends to the event log; failures are logged, never thrown (the log may be the thing that is down). */
      record: (type: 'degraded.entered' | 'degraded.exited', data: Record<string, unknown>) => Promise<unknown>;
    },
  ) {}

  enter(component: string, reason: string, now: Date): void {
    const current = this.entries.get(component);
    if (current !== undefined && current.reason === reason) return;
    this.entries.set(component, { component, reason, since: current?.since ?? now.toISOString() });
    if (current === undefined) {
      this.deps.logger.warn({ component, reason }, 'degraded');
      this.deps.record('degraded.entered', { component, reason }).catch((err: unknown) => this.deps.logger.error({ err }, 'could not log degraded.entered'));
    }
  }

  exit(component: string): void {
    const current = this.entries.get(component);
    if (current === undefined) return;
    this.entries.delete(component);
    this.deps.logger.info({ component }, 'recovered');
    this.deps.record('degraded.exited', { component, since: current.since }).catch((err: unknown) => this.deps.logger.error({ err }, 'could not log degraded.exited'));
  }

  list(): DegradedEntry[] {
    return [...this.entries.values()];
  }
}
