// A run's per-step scalars read back from its TensorBoard event files: the report and the
// experiments draw what TensorBoard shows, from the same records.
import { listEventFiles, readEvents } from "@cnnkit/tensorboard";

/** A scalar's values over steps, in step order. */
export interface Curve {
  steps: number[];
  values: number[];
}

/** Every value of each of `tags` in the event files of `logdir`, ordered by step. */
export async function readScalarsByTag(
  logdir: string,
  tags: readonly string[],
): Promise<Record<string, Curve>> {
  const points = new Map<string, [number, number][]>(tags.map((t) => [t, []]));
  for (const file of await listEventFiles(logdir)) {
    for (const event of (await readEvents(file)).events) {
      for (const value of event.summary ?? []) {
        const list = points.get(value.tag);
        if (list && value.simpleValue !== undefined) list.push([event.step, value.simpleValue]);
      }
    }
  }
  const curves: Record<string, Curve> = {};
  for (const [tag, list] of points) {
    list.sort((a, b) => a[0] - b[0]);
    curves[tag] = { steps: list.map((p) => p[0]), values: list.map((p) => p[1]) };
  }
  return curves;
}

/** Every value of `tag` in the event files of `logdir`, ordered by step. */
export async function readScalars(logdir: string, tag: string): Promise<Curve> {
  return (await readScalarsByTag(logdir, [tag]))[tag]!;
}
