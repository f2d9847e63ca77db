import { describe, expect, it } from "vitest";
import { Cifar10Error } from "./index.js";

describe("Cifar10Error", () => {
  it("carries a stable code, its name and the cause", () => {
    const cause = new Error("root cause");
    const err = new Cifar10Error("invalid_option", "expected a positive number, got -1", { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(Cifar10Error);
    expect(Cifar10Error.isInstance(err)).toBe(true);
    expect(Cifar10Error.isInstance(Object.assign(new Error(err.message), { code: err.code }))).toBe(
      false,
    );
    expect(err.name).toBe("Cifar10Error");
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe("expected a positive number, got -1");
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe("Cifar10Error: expected a positive number, got -1");
  });
});
