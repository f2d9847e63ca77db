import { inspect } from "node:util";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { CnnkitError } from "./index.js";

type ShelfErrorCode = "empty_shelf" | "invalid_option";

class ShelfError extends CnnkitError<ShelfErrorCode> {
  static override readonly marker: string = "test.ShelfError";
  override readonly name = "ShelfError";
}

class EmptyShelfError extends ShelfError {
  static override readonly marker = "test.EmptyShelfError";
  constructor(readonly shelf: string) {
    super("empty_shelf", `${shelf}: expected a book, got none`);
  }
}

class BinError extends CnnkitError<"full"> {
  static override readonly marker = "test.BinError";
  override readonly name = "BinError";
}

/** A subclass that forgot its own marker. */
class UnmarkedError extends ShelfError {}

describe("CnnkitError", () => {
  it("carries a stable code, its name and the cause, as an Error", () => {
    const cause = new Error("root cause");
    const err = new ShelfError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(CnnkitError);
    expect(err.name).toBe("ShelfError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("ShelfError: expected a positive number, got -1");
    expect(err.stack).toContain("ShelfError: expected a positive number");
  });

  it("isInstance recognises the class and its subclasses, not its siblings or parents", () => {
    const shelf = new ShelfError("invalid_option", "bad");
    const empty = new EmptyShelfError("top");
    const bin = new BinError("full", "no room");
    expect(ShelfError.isInstance(shelf)).toBe(true);
    expect(ShelfError.isInstance(empty)).toBe(true);
    expect(EmptyShelfError.isInstance(empty)).toBe(true);
    expect(EmptyShelfError.isInstance(shelf)).toBe(false);
    expect(ShelfError.isInstance(bin)).toBe(false);
    expect(BinError.isInstance(shelf)).toBe(false);
    expect(CnnkitError.isInstance(shelf)).toBe(true);
    expect(CnnkitError.isInstance(bin)).toBe(true);
    expect(CnnkitError.isInstance(new CnnkitError("x", "base"))).toBe(true);
    expect(ShelfError.isInstance(new CnnkitError("empty_shelf", "base"))).toBe(false);
  });

  it("isInstance says no to everything else", () => {
    for (const value of [
      new Error("plain"),
      Object.assign(new Error("lookalike"), { code: "invalid_option", name: "ShelfError" }),
      { code: "invalid_option" },
      null,
      undefined,
      "ShelfError",
      42,
    ]) {
      expect(CnnkitError.isInstance(value)).toBe(false);
      expect(ShelfError.isInstance(value)).toBe(false);
    }
  });

  it("isInstance answers for an error from another copy of the class, where instanceof does not", async () => {
    vi.resetModules();
    const other = await import("./cnnkit-error.js");
    expect(other.CnnkitError).not.toBe(CnnkitError);
    class OtherShelfError extends other.CnnkitError<ShelfErrorCode> {
      static override readonly marker = "test.ShelfError";
      override readonly name = "ShelfError";
    }
    const foreign = new OtherShelfError("empty_shelf", "from the other copy");
    expect(foreign).not.toBeInstanceOf(ShelfError);
    expect(foreign).not.toBeInstanceOf(CnnkitError);
    expect(ShelfError.isInstance(foreign)).toBe(true);
    expect(CnnkitError.isInstance(foreign)).toBe(true);
    expect(OtherShelfError.isInstance(new ShelfError("invalid_option", "from this copy"))).toBe(
      true,
    );
    expect(BinError.isInstance(foreign)).toBe(false);
  });

  it("keeps the markers out of what is printed and spread", () => {
    const err = new ShelfError("invalid_option", "bad");
    expect(Object.getOwnPropertySymbols(err)).toEqual(
      expect.arrayContaining([Symbol.for("test.ShelfError"), Symbol.for(CnnkitError.marker)]),
    );
    expect(inspect(err)).not.toContain("Symbol(");
    expect(Object.keys({ ...err }).sort()).toEqual(["code", "name"]);
  });

  it("isInstance throws on a subclass without a marker of its own, instead of matching its parent's", () => {
    expect(() => UnmarkedError.isInstance(new ShelfError("invalid_option", "bad"))).toThrow(
      /UnmarkedError\.isInstance: expected UnmarkedError to declare its own static marker/,
    );
  });

  it("narrows to the class, so code is its literal union", () => {
    const error: unknown = new ShelfError("empty_shelf", "none");
    if (ShelfError.isInstance(error)) {
      expectTypeOf(error).toEqualTypeOf<ShelfError>();
      expectTypeOf(error.code).toEqualTypeOf<ShelfErrorCode>();
    }
    if (EmptyShelfError.isInstance(error)) expectTypeOf(error.shelf).toEqualTypeOf<string>();
    if (CnnkitError.isInstance(error)) expectTypeOf(error.code).toEqualTypeOf<string>();
    // @ts-expect-error: not one of ShelfError's codes
    new ShelfError("no_such_code", "typo");
  });
});
