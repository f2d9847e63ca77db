// An event sink that keeps the file in memory: for browsers (no file system) and for tests.
import type { EventSink } from "./event-sink.js";

/** Collects the bytes of one event file in memory; `bytes()` is what the file would hold. */
export class MemorySink implements EventSink {
  readonly name: string;
  #chunks: Uint8Array[] = [];
  #length = 0;
  #closed = false;

  /** @param name names the sink in messages. Defaults to `"memory"`. */
  constructor(name = "memory") {
    this.name = name;
  }

  write(chunk: Uint8Array): void {
    // Copy: the writer may reuse nothing today, but a sink must not alias its caller's buffers.
    this.#chunks.push(chunk.slice());
    this.#length += chunk.length;
  }

  close(): void {
    this.#closed = true;
  }

  /** Whether the writer has closed this sink. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The bytes written so far, as one event file (read them with `decodeEvents`). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}
