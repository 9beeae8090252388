import type { z } from "zod";

/** One problem with a config value: where it is and which rule it breaks. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** `["sites", 1, "domain"]` → `sites[1].domain`; the root is `(config)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  const text = path.map((segment, index) => (typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`)).join("");
  return text === "" ? "(config)" : text;
}

export function formatProblem(problem: Problem): string {
  return `${formatPath(problem.path)}: ${problem.message}`;
}

/**
 * Turns zod issues into problems whose message reads after the path. Unknown keys become one
 * problem per key, at that key's own path, so the line points at what to delete.
 */
export function problemsFromZod(error: z.core.$ZodError): Problem[] {
  return error.issues.flatMap((issue): Problem[] => {
    switch (issue.code) {
      case "unrecognized_keys":
        return issue.keys.map((key) => ({ path: [...issue.path, key], message: "is not a known setting" }));
      case "invalid_type":
        return [{ path: issue.path, message: issue.input === undefined ? "is required" : `must be ${article(issue.expected)} (got ${typeName(issue.input)})` }];
      case "invalid_union":
        // A union's branches each report; the first branch's own message is the useful one when it names the rule.
        return [{ path: issue.path, message: issue.message.startsWith("Invalid input") ? "matches none of the accepted forms" : issue.message }];
      default:
        return [
          {
            path: issue.path,
            message: issue.message
              .replace(/^Too (big|small): expected (\w+) to have /, "must have ")
              .replace(/^Too (big|small): expected (\w+) to be /, "must be "),
          },
        ];
    }
  });
}

/** Raised when config breaks a rule; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const shown = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown}`;
}
