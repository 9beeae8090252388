import type { Command } from "../command";
import { loadtest } from "./loadtest";
import { plan } from "./plan";
import { render } from "./render";
import { validate } from "./validate";

/** Every `megaweb` subcommand; a new one is a module here and one entry in this list. */
export const commands: readonly Command[] = [validate, render, plan, loadtest];
