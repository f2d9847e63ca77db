import { describe, expect, it } from "vitest";
import { VizError } from "./index.js";

describe("VizError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new VizError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(VizError);
    expect(VizError.isInstance(err)).toBe(true);
    expect(VizError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("VizError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("VizError: expected a positive number, got -1");
  });
});
