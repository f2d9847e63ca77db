import { describe, expect, it } from "vitest";
import { MetricsError } from "./index.js";

describe("MetricsError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new MetricsError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(MetricsError);
    expect(MetricsError.isInstance(err)).toBe(true);
    expect(MetricsError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("MetricsError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("MetricsError: expected a positive number, got -1");
  });
});
