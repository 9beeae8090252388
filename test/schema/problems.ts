import { ConfigError } from "../../lib/schema/errors";
import { parseStack } from "../../lib/schema/stack";

/** The lines `megaweb validate` prints for an input, or [] when it is valid. */
export function problems(input: unknown): string[] {
  try {
    parseStack(input);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message.split("\n");
  }
}
