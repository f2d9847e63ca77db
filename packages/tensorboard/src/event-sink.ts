/**
 * Where a `SummaryWriter` puts its bytes. `write` receives whole TFRecord records only (one or
 * more, concatenated), so a sink that appends each chunk in one operation never leaves a
 * half-written record behind an intact one. A sink whose `write` returns synchronously lets the
 * writer save queued records even from a process `exit` handler.
 */
export interface EventSink {
  /** Names the destination in messages, e.g. the event file's path. */
  readonly name: string;
  write(chunk: Uint8Array): void | Promise<void>;
  close?(): void | Promise<void>;
}
