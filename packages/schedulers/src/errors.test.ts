import { describe, expect, it } from "vitest";
import { ScheduleError } from "./index.js";

describe("ScheduleError", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new ScheduleError("invalid_option", "expected a positive number, got -1", {
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ScheduleError);
    expect(ScheduleError.isInstance(err)).toBe(true);
    expect(
      ScheduleError.isInstance(Object.assign(new Error(err.message), { code: err.code })),
    ).toBe(false);
    expect(err.name).toBe("ScheduleError");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("ScheduleError: expected a positive number, got -1");
  });
});
