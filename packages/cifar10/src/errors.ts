import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link Cifar10Error} carries. After `Cifar10Error.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type Cifar10ErrorCode =
  | "archive_missing_folder"
  | "archive_too_large"
  | "bad_archive"
  | "bad_label"
  | "bad_meta"
  | "bad_pickle"
  | "bad_size"
  | "cache_unwritable"
  | "checksum_mismatch"
  | "download_incomplete"
  | "http_status"
  | "invalid_batch"
  | "invalid_images"
  | "invalid_option"
  | "invalid_rng_state"
  | "invalid_split"
  | "missing_file"
  | "missing_viz"
  | "network"
  | "no_dataset"
  | "unsafe_archive_entry";

/** Base class of every error @cnnkit/cifar10 throws; `code` is stable, the message is for people. */
export class Cifar10Error extends CnnkitError<Cifar10ErrorCode> {
  static override readonly marker: string = "cnnkit.error.Cifar10Error";
  override readonly name = "Cifar10Error";
}
