/**
 * Base class of every error a cnnkit package throws, with an `isInstance` that still answers
 * when two copies of a package are installed (`instanceof` then says no: each copy has its own
 * class). Each subclass names itself by a `marker`, a key in the global symbol registry, which
 * every copy of the class shares.
 */
export class CnnkitError<Code extends string = string> extends Error {
  /**
   * What `isInstance` recognises this class by: each instance carries `Symbol.for(marker)` of
   * its class and of every class above it. A subclass that is matched with `isInstance` sets
   * its own, unique across all packages (cnnkit's are `"cnnkit.error.<ClassName>"`), typed
   * `string` where the class has subclasses of its own.
   */
  static readonly marker: string = "cnnkit.error.CnnkitError";

  override readonly name: string = "CnnkitError";

  /** A stable, machine-readable identifier such as `"invalid_option"`; the message is for people. */
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    for (let c: { marker?: string } | null = new.target; c; c = Object.getPrototypeOf(c)) {
      if (Object.hasOwn(c, "marker")) {
        // Not enumerable: printed errors and object spreads stay as they were.
        Object.defineProperty(this, Symbol.for(c.marker!), { value: true });
      }
    }
  }

  /**
   * Whether `error` is an instance of this class (or a subclass), from this copy of its package
   * or any other. Narrows `error`, so `code` can be compared with the class's codes.
   */
  static isInstance<E extends CnnkitError>(this: CnnkitErrorClass<E>, error: unknown): error is E {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass it is called on, on purpose
    return hasMarkerOf(this, error);
  }
}

function hasMarkerOf(errorClass: CnnkitErrorClass, error: unknown): boolean {
  if (!Object.hasOwn(errorClass, "marker")) {
    const { name, marker } = errorClass;
    throw new TypeError(
      `${name}.isInstance: expected ${name} to declare its own static marker, got only the one it inherits ("${marker}"), which would match every error of the class above it`,
    );
  }
  return (
    typeof error === "object" &&
    error !== null &&
    (error as Record<symbol, unknown>)[Symbol.for(errorClass.marker)] === true
  );
}

/** A class whose instances are `E`: `CnnkitError` or one of its subclasses. */
export type CnnkitErrorClass<E extends CnnkitError = CnnkitError> = (abstract new (
  ...args: never[]
) => E) & { readonly marker: string };
