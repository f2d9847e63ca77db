import { describe, expect, it } from "vitest";
import { NonFiniteLossError, TrainError } from "./index.js";

describe("TrainError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new TrainError("replica_failed", "replica 1: its thread exited (code 1)", {
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(TrainError);
    expect(TrainError.isInstance(err)).toBe(true);
    expect(TrainError.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("TrainError");
    expect(err.code).toBe("replica_failed");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("TrainError: replica 1: its thread exited (code 1)");
  });

  it("NonFiniteLossError is a TrainError with its own isInstance", () => {
    const err = new NonFiniteLossError(Number.NaN, "the training loss");
    expect(err.name).toBe("TrainError");
    expect(err.code).toBe("non_finite_loss");
    expect(err.value).toBeNaN();
    expect(TrainError.isInstance(err)).toBe(true);
    expect(NonFiniteLossError.isInstance(err)).toBe(true);
    expect(
      NonFiniteLossError.isInstance(new TrainError("non_finite_loss", "not the subclass")),
    ).toBe(false);
  });
});
