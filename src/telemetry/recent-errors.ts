/** A small ring of the latest errors, for `/admin/status` `recent_errors`. In memory, per instance. */
export interface RecentError {
  at: string;
  component: string;
  message: string;
  signal_id: string | null;
}

export class RecentErrors {
  private readonly items: RecentError[] = [];
  constructor(private readonly keep = 20) {}

  add(error: RecentError): void {
    this.items.unshift(error);
    if (this.items.length > this.keep) this.items.length = this.keep;
  }

  list(): RecentError[] {
    return [...this.items];
  }
}
