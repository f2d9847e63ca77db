import { describe, expect, it } from "vitest";
import { ExportError } from "./index.js";

describe("ExportError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new ExportError("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ExportError);
    expect(ExportError.isInstance(err)).toBe(true);
    expect(ExportError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("ExportError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("ExportError: expected a positive number, got -1");
  });
});
