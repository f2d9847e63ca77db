// Decoding of the pickled batches of `cifar-10-batches-py/` into NHWC bytes.
import { CIFAR10_IMAGE_BYTES } from "./constants.js";
import { aligned32, checkLabel, planarToHwc, viewOf } from "./decode-bin.js";
import { Cifar10Error } from "./errors.js";
import { type PickledArray, type PickleValue, readPickle } from "./read-pickle.js";

const latin1 = new TextDecoder("latin1");

function asDict(value: PickleValue, file: string): Map<string, PickleValue> {
  if (!(value instanceof Map)) {
    throw new Cifar10Error("bad_pickle", `${file}: expected a pickled dict, got another value`);
  }
  return value;
}

/**
 * Decodes a pickled batch (`{data: uint8 ndarray N×3072, labels: [N ints], …}`) into `images`
 * (NHWC) and `labels` from record `first` on.
 */
export function decodePyBatch(
  bytes: Uint8Array,
  file: string,
  expectedRecords: number,
  images: Uint8Array,
  labels: Uint8Array,
  first: number,
): void {
  const dict = asDict(readPickle(bytes, file), file);
  const data = dict.get("data") as PickledArray | undefined;
  const list = dict.get("labels");
  if (data?.kind !== "ndarray") {
    throw new Cifar10Error(
      "bad_pickle",
      `${file}: expected a numpy array under "data", found none`,
    );
  }
  if (!Array.isArray(list)) {
    throw new Cifar10Error("bad_pickle", `${file}: expected a list under "labels", found none`);
  }
  const shape = `${expectedRecords}×${CIFAR10_IMAGE_BYTES}`;
  if (
    data.dtype !== "u1" ||
    data.fortranOrder ||
    data.shape.length !== 2 ||
    data.shape[0] !== expectedRecords ||
    data.shape[1] !== CIFAR10_IMAGE_BYTES
  ) {
    throw new Cifar10Error(
      "bad_size",
      `${file}: expected "data" to be a C-order uint8 array of ${shape}, got ${data.fortranOrder ? "Fortran-order " : ""}${data.dtype} ${data.shape.join("×")}`,
    );
  }
  if (data.data.length !== expectedRecords * CIFAR10_IMAGE_BYTES) {
    throw new Cifar10Error(
      "bad_size",
      `${file}: expected ${expectedRecords * CIFAR10_IMAGE_BYTES} bytes of pixels, got ${data.data.length}`,
    );
  }
  if (list.length !== expectedRecords) {
    throw new Cifar10Error(
      "bad_size",
      `${file}: expected ${expectedRecords} labels, got ${list.length}`,
    );
  }
  const images32 = aligned32(images);
  const view = viewOf(data.data);
  for (let r = 0; r < expectedRecords; r++) {
    const label = list[r];
    checkLabel(typeof label === "number" ? label : Number.NaN, file, r);
    labels[first + r] = label as number;
    planarToHwc(
      data.data,
      r * CIFAR10_IMAGE_BYTES,
      images,
      (first + r) * CIFAR10_IMAGE_BYTES,
      images32,
      view,
    );
  }
}

/** Reads the class names from a pickled `batches.meta` (`{label_names: [10 strings], …}`). */
export function decodePyMeta(bytes: Uint8Array, file: string): string[] {
  const names = asDict(readPickle(bytes, file), file).get("label_names");
  if (!Array.isArray(names) || names.length !== 10) {
    throw new Cifar10Error(
      "bad_pickle",
      `${file}: expected "label_names" to be a list of 10 names, got ${Array.isArray(names) ? names.length : "none"}`,
    );
  }
  return names.map((n) => {
    if (typeof n === "string") return n;
    if (n instanceof Uint8Array) return latin1.decode(n);
    throw new Cifar10Error("bad_pickle", `${file}: a class name is not a string`);
  });
}
