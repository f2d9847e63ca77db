// Reading event files back without Python: every record's CRCs are verified, then each record
// is decoded as a tensorboard.Event.
import type * as Fs from "node:fs";
import type * as Path from "node:path";
import { TensorBoardError } from "./errors.js";
import { decodeEvent, type TfEvent } from "./event-proto.js";
import { nodeBuiltin } from "./node-builtins.js";
import { decodeRecords, type TruncatedRecord } from "./tfrecord.js";

/** The decoded contents of one event file. */
export interface EventFileContents {
  /** The events, in file order; the first is the `fileVersion` marker. */
  readonly events: TfEvent[];
  /**
   * The incomplete last record, if the file ends mid-record (the writer crashed or is still
   * writing); every event before it is intact and in `events`. `null` for a complete file.
   */
  readonly truncated: TruncatedRecord | null;
}

/**
 * Decodes an event file held in memory (e.g. `MemorySink.bytes()`). Throws a
 * `TensorBoardError` naming `source` and the byte offset on a CRC mismatch or a malformed event.
 */
export function decodeEvents(bytes: Uint8Array, source = "<bytes>"): EventFileContents {
  const { records, truncated } = decodeRecords(bytes, source);
  const events = records.map((record, i) => decodeEvent(record, `${source}: record ${i}`));
  return { events, truncated };
}

/** Reads and decodes the event file at `path` (Node.js). */
export async function readEvents(path: string): Promise<EventFileContents> {
  const fs = nodeBuiltin<typeof Fs>("node:fs", "readEvents");
  let bytes: Uint8Array;
  try {
    bytes = await fs.promises.readFile(path);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const hint = code === "EISDIR" ? " (a log directory: pick a file with listEventFiles())" : "";
    throw new TensorBoardError(
      "unreadable_file",
      `${path}: expected a readable event file, got ${(cause as Error).message}${hint}`,
      { cause },
    );
  }
  return decodeEvents(bytes, path);
}

/** The event files directly inside `logdir`, sorted by name (which is by creation time). */
export async function listEventFiles(logdir: string): Promise<string[]> {
  const fs = nodeBuiltin<typeof Fs>("node:fs", "listEventFiles");
  const path = nodeBuiltin<typeof Path>("node:path", "listEventFiles");
  let names: string[];
  try {
    names = await fs.promises.readdir(logdir);
  } catch (cause) {
    throw new TensorBoardError(
      "unreadable_file",
      `${logdir}: expected a readable log directory, got ${(cause as Error).message}`,
      { cause },
    );
  }
  return names
    .filter((name) => name.includes("tfevents"))
    .sort()
    .map((name) => path.join(logdir, name));
}
