import type { z } from "zod";

/** A client error the API answers with its status and a JSON body naming the field. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError(404, "not_found", `${what} ${id} does not exist`);
}

/** `urls[2].host`, the way a client would write the path in its own code. */
export function formatPath(path: readonly PropertyKey[], root = ""): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`;
    return text ? `${text}.${String(key)}` : String(key);
  }, root);
}

export function validationError(error: z.ZodError, root = ""): ApiError {
  const issues = error.issues.map((issue) => ({
    path: formatPath(issue.path, root) || "(body)",
    message: issue.message,
  }));
  return new ApiError(400, "validation_failed", issues.map((issue) => `${issue.path}: ${issue.message}`).join("; "), issues);
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, root = ""): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error, root);
  return parsed.data;
}
