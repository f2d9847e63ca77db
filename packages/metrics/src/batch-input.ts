// Turns what a caller feeds an accumulator (a tf tensor or a typed array) into validated
// plain arrays. tfjs is an optional peer: tensors are recognised by their shape, never by
// importing tfjs, so the Float32Array path works with no tfjs installed.
import { MetricsError } from "./errors.js";

/**
 * The part of a `tf.Tensor` this package reads. Any tfjs tensor satisfies it; declaring it
 * here keeps tfjs out of the runtime and out of the published types.
 */
export interface TensorLike {
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly isDisposed?: boolean;
  dataSync(): ArrayLike<unknown>;
  /** Asynchronous read (tfjs tensors have it); used by `updateAsync`. */
  data?(): Promise<ArrayLike<unknown>>;
}

/** Logits, `[batch, numClasses]` row-major: a `tf.Tensor2D` or a flat typed array. */
export type LogitsInput = Float32Array | Float64Array | TensorLike;

/** Integer class ids, one per row: a typed array, a plain array or a `tf.Tensor1D`. */
export type LabelsInput = Int32Array | Uint8Array | Uint16Array | readonly number[] | TensorLike;

/** Dataset indices of the rows (so a mistake can be shown as its image). */
export type IndicesInput = Int32Array | Uint32Array | readonly number[] | TensorLike;

/** A validated batch: `logits` has `size × numClasses` values, none NaN; `labels` are in range. */
export interface Batch {
  readonly size: number;
  readonly logits: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
  readonly indices: ArrayLike<number> | undefined;
}

/** True for a tfjs tensor (or anything shaped like one), false for arrays. */
export function isTensorLike(value: unknown): value is TensorLike {
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return false;
  const v = value as Partial<TensorLike>;
  return Array.isArray(v.shape) && typeof v.dtype === "string" && typeof v.dataSync === "function";
}

/** Checks a tensor can be read: live, numeric, of the expected rank (and row length). */
function checkTensor(tensor: TensorLike, what: string, numClasses?: number): void {
  if (tensor.isDisposed === true) {
    throw new MetricsError(
      "disposed_tensor",
      `${what}: expected a live tensor, got a disposed one (read it before disposing it)`,
    );
  }
  if (tensor.dtype === "string" || tensor.dtype === "complex64") {
    throw new MetricsError(
      "invalid_dtype",
      `${what}: expected a float32, int32 or bool tensor, got dtype ${tensor.dtype}`,
    );
  }
  const shape = tensor.shape;
  if (numClasses !== undefined) {
    if (shape.length !== 2 || shape[1] !== numClasses) {
      throw new MetricsError(
        "shape_mismatch",
        `${what}: expected a [batch, ${numClasses}] tensor, got shape [${shape.join(", ")}]`,
      );
    }
  } else if (shape.length !== 1) {
    throw new MetricsError(
      "shape_mismatch",
      `${what}: expected a 1-D tensor of ${what === "labels" ? "class ids" : "dataset indices"}, got shape [${shape.join(", ")}]` +
        (what === "labels" && shape.length === 2 ? " (one-hot labels? argMax them first)" : ""),
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === "object" ? `an object` : `a ${typeof value}`;
}

/**
 * Validates one batch against `numClasses` before anything is accumulated, so a bad batch
 * leaves an accumulator exactly as it was.
 */
export function readBatch(
  logits: LogitsInput,
  labels: LabelsInput,
  indices: IndicesInput | undefined,
  numClasses: number,
  /** Rows of a logits tensor already read to an array (by `readBatchAsync`). */
  tensorRows?: number,
): Batch {
  let logitValues: ArrayLike<number>;
  let rows: number;
  if (isTensorLike(logits)) {
    checkTensor(logits, "logits", numClasses);
    logitValues = logits.dataSync() as ArrayLike<number>;
    rows = logits.shape[0]!;
  } else if (logits instanceof Float32Array || logits instanceof Float64Array) {
    logitValues = logits;
    rows = tensorRows ?? -1;
  } else {
    throw new MetricsError(
      "invalid_input",
      `logits: expected a Float32Array, Float64Array or tf.Tensor2D, got ${describe(logits)}`,
    );
  }

  const labelValues = readIntegers(labels, "labels");
  const size = labelValues.length;
  if (rows === -1) {
    if (logitValues.length !== size * numClasses) {
      throw new MetricsError(
        "shape_mismatch",
        `logits: expected labels.length × numClasses = ${size} × ${numClasses} = ${size * numClasses} values, got ${logitValues.length}`,
      );
    }
  } else if (rows !== size) {
    throw new MetricsError(
      "shape_mismatch",
      `labels: expected ${rows} labels (one per logits row), got ${size}`,
    );
  }

  let indexValues: ArrayLike<number> | undefined;
  if (indices !== undefined) {
    indexValues = readIntegers(indices, "indices");
    if (indexValues.length !== size) {
      throw new MetricsError(
        "shape_mismatch",
        `indices: expected ${size} dataset indices (one per label), got ${indexValues.length}`,
      );
    }
  }

  for (let i = 0; i < size; i++) {
    const label = labelValues[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new MetricsError(
        "label_out_of_range",
        `labels[${i}]: expected an integer class id in [0, ${numClasses - 1}], got ${label}${at(indexValues, i)}`,
      );
    }
    if (indexValues !== undefined) {
      const index = indexValues[i]!;
      if (!Number.isInteger(index) || index < 0) {
        throw new MetricsError(
          "invalid_index",
          `indices[${i}]: expected a non-negative integer dataset index, got ${index}`,
        );
      }
    }
  }
  // One pass over the logits to reject NaN: it would otherwise turn the loss into NaN and
  // silently count as "wrong" in every other metric. ±Infinity (an overflowed model) has a
  // meaning softmax's limit gives (see softmaxRow): it is scored, not refused.
  for (let j = 0; j < logitValues.length; j++) {
    const v = logitValues[j]!;
    if (Number.isNaN(v)) {
      const row = Math.floor(j / numClasses);
      throw new MetricsError(
        "non_finite_logits",
        `logits[${row}][${j % numClasses}]: expected a number, got NaN${at(indexValues, row)} (diverged training?)`,
      );
    }
  }
  return { size, logits: logitValues, labels: labelValues, indices: indexValues };
}

function at(indices: ArrayLike<number> | undefined, row: number): string {
  return indices === undefined ? "" : ` (dataset index ${indices[row]})`;
}

function readIntegers(value: LabelsInput | IndicesInput, what: string): ArrayLike<number> {
  if (isTensorLike(value)) {
    checkTensor(value, what);
    return value.dataSync() as ArrayLike<number>;
  }
  if (Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    return value as ArrayLike<number>;
  }
  throw new MetricsError(
    "invalid_input",
    `${what}: expected an Int32Array, Uint8Array, number[] or tf.Tensor1D, got ${describe(value)}`,
  );
}

/**
 * Reads tensors without blocking the thread (`await tensor.data()`, for GPU backends), after
 * the same checks `readBatch` makes; arrays pass through. The values then go through
 * `readBatch` like any array.
 */
export async function readBatchAsync(
  logits: LogitsInput,
  labels: LabelsInput,
  indices: IndicesInput | undefined,
  numClasses: number,
): Promise<Batch> {
  const read = async <T>(value: T | TensorLike, what: string, k?: number) => {
    if (!isTensorLike(value) || typeof value.data !== "function") return value as T;
    checkTensor(value, what, k);
    const values = await value.data();
    return (ArrayBuffer.isView(values) ? values : Float32Array.from(values as ArrayLike<number>)) as
      | Float32Array
      | Int32Array;
  };
  const [l, y, i] = await Promise.all([
    read(logits, "logits", numClasses),
    read(labels, "labels"),
    indices === undefined ? undefined : read(indices, "indices"),
  ]);
  // int32/bool logits read back as Int32Array/Uint8Array: widen them for readBatch's check.
  const logitValues =
    l instanceof Float32Array || l instanceof Float64Array
      ? l
      : Float32Array.from(l as ArrayLike<number>);
  const rows = isTensorLike(logits) ? logits.shape[0] : undefined;
  return readBatch(logitValues, y as LabelsInput, i as IndicesInput | undefined, numClasses, rows);
}
