import { describe, expect, it } from "vitest";
import { requestMix, smoothWeightedCycle } from "../../lib/loadtest/request-mix";

const tally = (items: readonly string[]) => items.reduce<Record<string, number>>((counts, item) => ({ ...counts, [item]: (counts[item] ?? 0) + 1 }), {});

describe("request mix", () => {
  it("gives each path exactly its weight per cycle, after reducing the weights by their common divisor", () => {
    expect(
      tally(
        smoothWeightedCycle([
          { path: "/", weight: 70 },
          { path: "/search", weight: 20 },
          { path: "/cart", weight: 10 },
        ]),
      ),
    ).toEqual({
      "/": 7,
      "/search": 2,
      "/cart": 1,
    });
    expect(
      smoothWeightedCycle([
        { path: "/a", weight: 50 },
        { path: "/b", weight: 50 },
      ]),
    ).toEqual(["/a", "/b"]);
  });

  it("spreads a heavy path through the cycle instead of sending it in one run", () => {
    expect(
      smoothWeightedCycle([
        { path: "/", weight: 3 },
        { path: "/rare", weight: 1 },
      ]),
    ).toEqual(["/", "/", "/rare", "/"]);
    expect(
      smoothWeightedCycle([
        { path: "/a", weight: 2 },
        { path: "/b", weight: 2 },
        { path: "/c", weight: 1 },
      ]),
    ).toEqual(["/a", "/b", "/c", "/a", "/b"]);
  });

  it("sends every site every path in proportion, with sites taking turns request by request", () => {
    const mix = requestMix(
      ["a.test", "b.test"],
      [
        { path: "/", weight: 3 },
        { path: "/x", weight: 1 },
      ],
    );
    expect(mix.cycleLength).toBe(8);
    const requests = Array.from({ length: mix.cycleLength * 5 }, (_, index) => mix.at(index));
    expect(requests.slice(0, 4).map((request) => request.host)).toEqual(["a.test", "b.test", "a.test", "b.test"]);
    expect(tally(requests.map((request) => `${request.host}${request.path}`))).toEqual({ "a.test/": 15, "a.test/x": 5, "b.test/": 15, "b.test/x": 5 });
  });

  it("repeats the cycle for as long as requests are drawn", () => {
    const mix = requestMix(
      ["a.test"],
      [
        { path: "/", weight: 2 },
        { path: "/x", weight: 1 },
      ],
    );
    expect(mix.at(1_000_003)).toEqual(mix.at(1_000_003 % mix.cycleLength));
  });
});
