import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { olsKeywords } from "./checker/keywords";

const extracted = fileURLToPath(new URL("reference/openlitespeed--src-main-plainconf.cpp--sKeywords.txt", import.meta.url));

test("the keyword list is the one extracted from plainconf.cpp, in order", () => {
  const reference = readFileSync(extracted, "utf8").split("\n").filter(Boolean);
  expect(reference).toHaveLength(399);
  expect(olsKeywords).toEqual(reference);
});
