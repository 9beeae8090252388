import { describe, expect, it } from "vitest";
import { runLoad, startLoad, summarize, type LoadRecord } from "./measure";

describe("a bounded fault load", () => {
  it("stops by itself after its operation count", async () => {
    const record = await runLoad(async (index) => index, { maxOperations: 25, maxSeconds: 30, concurrency: 3 });
    expect(record.outcomes.map((outcome) => outcome.index)).toEqual(Array.from({ length: 25 }, (_, index) => index));
    expect(summarize(record)).toMatchObject({ operations: 25, acknowledged: 25, failed: 0, longestOutageSeconds: 0 });
  });

  it("stops by itself after its time bound", async () => {
    const started = Date.now();
    const record = await runLoad(() => new Promise((resolve) => setTimeout(resolve, 20)), { maxOperations: 1_000_000, maxSeconds: 0.3 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(record.outcomes.length).toBeGreaterThan(5);
  });

  it("counts an operation that outlives its timeout as failed", async () => {
    const record = await runLoad((index) => new Promise((resolve) => setTimeout(resolve, index === 1 ? 500 : 1)), {
      maxOperations: 3,
      maxSeconds: 5,
      timeoutMs: 100,
    });
    expect(record.outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true]);
    expect(record.outcomes[1]!.error).toBe("no answer within 100 ms");
  });

  it("stops early when told, letting operations in flight finish", async () => {
    const load = startLoad(() => new Promise((resolve) => setTimeout(resolve, 10)), { maxOperations: 1_000_000, maxSeconds: 60 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    load.stop();
    const record = await load.done;
    expect(record.durationMs).toBeLessThan(1000);
    expect(record.outcomes.every((outcome) => outcome.ok)).toBe(true);
  });

  it("measures the longest outage from the last acknowledgement before the failures to the first after them", () => {
    const outcome = (index: number, endedMs: number, ok: boolean) => ({ index, startedMs: endedMs - 5, endedMs, ok });
    const record: LoadRecord<unknown> = {
      startedAt: 0,
      durationMs: 10_000,
      outcomes: [
        outcome(0, 1000, true),
        outcome(1, 1500, false),
        outcome(2, 2500, false),
        outcome(3, 4200, true),
        outcome(4, 5000, false),
        outcome(5, 5600, true),
      ],
    };
    expect(summarize(record)).toMatchObject({
      operations: 6,
      acknowledged: 3,
      failed: 3,
      failureRate: 0.5,
      longestOutageSeconds: 3.2,
      firstFailureSeconds: 1.5,
      recoveredSeconds: 4.2,
    });
  });

  it("counts an outage that lasts to the end of the load up to its end", () => {
    const record: LoadRecord<unknown> = {
      startedAt: 0,
      durationMs: 3000,
      outcomes: [
        { index: 0, startedMs: 0, endedMs: 500, ok: true },
        { index: 1, startedMs: 600, endedMs: 1000, ok: false, error: "refused" },
      ],
    };
    expect(summarize(record)).toMatchObject({ longestOutageSeconds: 2.5, errors: { refused: 1 } });
    expect(summarize(record).recoveredSeconds).toBeUndefined();
  });
});
