/** Base class of every error @cnnkit/cifar10 throws; `code` is stable, the message is for people. */
export class Cifar10Error extends Error {
  override readonly name = "Cifar10Error";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
