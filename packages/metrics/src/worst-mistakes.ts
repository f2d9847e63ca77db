// Keeps, per true class, the N wrong predictions made with the highest confidence: the
// examples most worth looking at (mislabelled data, or what the model really confuses).
import type { Mistake } from "./metrics-result.js";

/** Higher confidence first; ties by lower dataset index so batch order never matters. */
function before(a: Mistake, b: Mistake): boolean {
  return a.confidence > b.confidence || (a.confidence === b.confidence && a.index < b.index);
}

/** Bounded per-class top-N lists; internal to the accumulator. */
export class WorstMistakes {
  readonly perClass: number;
  lists: Mistake[][];

  constructor(numClasses: number, perClass: number) {
    this.perClass = perClass;
    this.lists = Array.from({ length: numClasses }, () => []);
  }

  /** Would a mistake of `trueClass` with this confidence enter the list? (cheap pre-check) */
  admits(trueClass: number, confidence: number): boolean {
    if (this.perClass === 0) return false;
    const list = this.lists[trueClass]!;
    return list.length < this.perClass || confidence >= list[list.length - 1]!.confidence;
  }

  add(mistake: Mistake): void {
    if (this.perClass === 0) return;
    const list = this.lists[mistake.trueClass]!;
    let at = list.length;
    while (at > 0 && before(mistake, list[at - 1]!)) at--;
    if (at >= this.perClass) return;
    list.splice(at, 0, mistake);
    if (list.length > this.perClass) list.pop();
  }

  merge(other: WorstMistakes): void {
    for (const list of other.lists) for (const m of list) this.add({ ...m });
  }

  reset(): void {
    for (const list of this.lists) list.length = 0;
  }
}
