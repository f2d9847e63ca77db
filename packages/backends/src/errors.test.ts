import { describe, expect, it } from "vitest";
import { BackendError } from "./index.js";

describe("BackendError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new BackendError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(BackendError);
    expect(BackendError.isInstance(err)).toBe(true);
    expect(BackendError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("BackendError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("BackendError: expected a positive number, got -1");
  });
});
