import { describe, expect, it } from "vitest";
import { TensorBoardError } from "./index.js";

describe("TensorBoardError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new TensorBoardError("invalid_option", "expected a positive number, got -1", {
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(TensorBoardError);
    expect(TensorBoardError.isInstance(err)).toBe(true);
    expect(
      TensorBoardError.isInstance(Object.assign(new Error(err.message), { code: err.code })),
    ).toBe(false);
    expect(err.name).toBe("TensorBoardError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("TensorBoardError: expected a positive number, got -1");
  });
});
