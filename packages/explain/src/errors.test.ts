import { describe, expect, it } from "vitest";
import { ExplainError } from "./index.js";

describe("ExplainError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new ExplainError("unknown_layer", 'expected a layer named "x", got none', {
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ExplainError);
    expect(ExplainError.isInstance(err)).toBe(true);
    expect(ExplainError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("ExplainError");
    expect(err.code).toBe("unknown_layer");
    expect(err.message).toBe('expected a layer named "x", got none');
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe('ExplainError: expected a layer named "x", got none');
  });
});
