import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link VizError} carries. After `VizError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type VizErrorCode =
  | "invalid_image"
  | "invalid_option"
  | "invalid_png"
  | "node_only"
  | "renderer_unavailable"
  | "unsupported_format"
  | "write_failed";

/** Base class of every error @cnnkit/viz throws; `code` is stable, the message is for people. */
export class VizError extends CnnkitError<VizErrorCode> {
  static override readonly marker: string = "cnnkit.error.VizError";
  override readonly name = "VizError";
}
