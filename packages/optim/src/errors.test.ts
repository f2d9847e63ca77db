import { describe, expect, it } from "vitest";
import { OptimError } from "./index.js";

describe("OptimError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new OptimError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(OptimError);
    expect(OptimError.isInstance(err)).toBe(true);
    expect(OptimError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("OptimError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("OptimError: expected a positive number, got -1");
  });
});
