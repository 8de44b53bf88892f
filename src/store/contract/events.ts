/** The hash-chained event log and its live feed. */

export interface EventRecord {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface NewEvent {
  type: string;
  signal_id?: string | null;
  data: Record<string, unknown>;
}

export interface EventStore {
  /**
   * Appends at the store's clock (`now` of the store's options), or at `at` when given: an event
   * that happened while the log could not be written keeps its own time.
   */
  appendEvent(event: NewEvent, at?: Date): Promise<EventRecord>;
  listEvents(after: number, limit: number): Promise<EventRecord[]>;
  listSignalEvents(signalId: string): Promise<EventRecord[]>;
  /** The newest event's seq (0 for an empty log). */
  lastEventSeq(): Promise<number>;
  /** Called with every event after its transaction committed (feeds the live stream). */
  subscribe(listener: (event: EventRecord) => void): () => void;
}
