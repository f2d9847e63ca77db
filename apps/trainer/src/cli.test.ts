import { describe, expect, it, vi } from "vitest";
import { main } from "./cli.js";

describe("cnnkit-train placeholder", () => {
  it("says plainly that nothing was trained and exits 0", async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      await expect(main([])).resolves.toBe(0);
      const text = out.mock.calls.map((c) => String(c[0])).join("");
      expect(text).toMatch(/not built yet/);
      expect(text).toMatch(/Nothing was trained/);
    } finally {
      out.mockRestore();
    }
  });
});
