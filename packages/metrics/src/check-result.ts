// Guards the report functions against something that is not a MetricsResult (an old schema,
// or the accumulator itself instead of its result()).
import { MetricsError } from "./errors.js";
import type { MetricsResult } from "./metrics-result.js";

export function checkResult(result: MetricsResult, where: string): void {
  if (typeof result !== "object" || result === null || result.version !== 1) {
    const got =
      typeof result === "object" && result !== null
        ? `an object with version ${String((result as { version?: unknown }).version)}`
        : String(result);
    throw new MetricsError(
      "invalid_result",
      `${where}: expected a MetricsResult (version 1, from ClassificationMetrics.result()), got ${got}`,
    );
  }
}
