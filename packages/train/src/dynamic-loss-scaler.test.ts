import { describe, expect, it } from "vitest";
import { DynamicLossScaler } from "./dynamic-loss-scaler.js";
import { TrainError } from "./errors.js";

// The expected sequences follow ATen's `_amp_update_scale_` (AmpKernels.cu), which
// torch.cuda.amp.GradScaler.update calls: it runs on CUDA only (Debian's torch 1.13 has no CPU
// kernel for it, and this machine no GPU), so they are written from that kernel, not generated.
describe("DynamicLossScaler", () => {
  it("starts with PyTorch GradScaler's defaults", () => {
    const scaler = new DynamicLossScaler();
    expect(scaler.stateDict()).toEqual({
      scale: 65536,
      growthFactor: 2,
      backoffFactor: 0.5,
      growthInterval: 2000,
      growthTracker: 0,
    });
    expect(scaler.inverseScale).toBe(2 ** -16);
  });

  it("halves on overflow, doubles after growthInterval finite steps in a row, and a backoff restarts the count", () => {
    const scaler = new DynamicLossScaler({ initScale: 1024, growthInterval: 3 });
    const steps: [boolean, string, number, number][] = [
      // [found inf, what update did, scale after, growth tracker after]
      [false, "kept", 1024, 1],
      [false, "kept", 1024, 2],
      [false, "grew", 2048, 0],
      [false, "kept", 2048, 1],
      [true, "backoff", 1024, 0],
      [true, "backoff", 512, 0],
      [false, "kept", 512, 1],
      [false, "kept", 512, 2],
      [true, "backoff", 256, 0], // two clean steps, then an overflow: no growth
      [false, "kept", 256, 1],
      [false, "kept", 256, 2],
      [false, "grew", 512, 0],
    ];
    for (const [foundInf, what, scale, tracker] of steps) {
      expect([scaler.update(foundInf), scaler.scale, scaler.growthTracker]).toEqual([
        what,
        scale,
        tracker,
      ]);
    }
  });

  it("does not grow past float32's largest power of two, and still restarts the count", () => {
    const scaler = new DynamicLossScaler({ initScale: 2 ** 127, growthInterval: 1 });
    expect(scaler.update(false)).toBe("kept");
    expect(scaler.scale).toBe(2 ** 127);
    expect(scaler.growthTracker).toBe(0);
  });

  it("computes in float32, as the CUDA kernel does", () => {
    const scaler = new DynamicLossScaler({ initScale: 0.1, growthFactor: 3, growthInterval: 1 });
    expect(scaler.scale).toBe(Math.fround(0.1));
    scaler.update(false);
    expect(scaler.scale).toBe(Math.fround(Math.fround(0.1) * 3));
    expect(scaler.inverseScale).toBe(Math.fround(1 / scaler.scale));
  });

  it("saves and restores its scale and count", () => {
    const a = new DynamicLossScaler({ growthInterval: 10 });
    a.update(true);
    a.update(false);
    const b = new DynamicLossScaler({ growthInterval: 10 });
    b.loadStateDict(a.stateDict());
    expect(b.stateDict()).toEqual(a.stateDict());
    expect(b.scale).toBe(32768);
    expect(b.growthTracker).toBe(1);
  });

  it("names the option at fault", () => {
    const cases: [ConstructorParameters<typeof DynamicLossScaler>[0], string][] = [
      [{ initScale: 0 }, "DynamicLossScaler: initScale: expected a finite number > 0, got 0"],
      [{ growthFactor: 1 }, "DynamicLossScaler: growthFactor: expected a finite number > 1, got 1"],
      [
        { backoffFactor: 1 },
        "DynamicLossScaler: backoffFactor: expected a number in (0, 1), got 1",
      ],
      [
        { growthInterval: 2.5 },
        "DynamicLossScaler: growthInterval: expected a positive integer, got 2.5",
      ],
    ];
    for (const [options, message] of cases) {
      const error = (() => {
        try {
          new DynamicLossScaler(options);
        } catch (e) {
          return e;
        }
      })();
      expect(TrainError.isInstance(error) && error.code).toBe("invalid_option");
      expect((error as Error).message).toBe(message);
    }
    expect(() => new DynamicLossScaler().loadStateDict({ scale: -1, growthTracker: 0 })).toThrow(
      "state.scale: expected a finite number > 0, got -1",
    );
  });
});
