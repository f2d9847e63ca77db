import { describe, expect, it } from "vitest";
import { ResNetError } from "./index.js";

describe("ResNetError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new ResNetError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ResNetError);
    expect(ResNetError.isInstance(err)).toBe(true);
    expect(ResNetError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("ResNetError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("ResNetError: expected a positive number, got -1");
  });
});
