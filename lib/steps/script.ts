import { renderTemplate } from "../render/template";

/** Single-quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const stepDelimiter = "MEGAWEB_STEP";

/**
 * The command string of a step: the shared helpers, the step's inputs as shell variables and its
 * body, run by bash as root (through sudo when the connection's user is not root). The script is
 * an argument rather than stdin, so stdin stays free for secrets.
 */
export function stepCommand(body: string, inputs: Record<string, string> = {}): string {
  const preamble = Object.entries(inputs)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join("\n");
  const script = [renderTemplate("provision/lib.sh", {}).trimEnd(), preamble, body.trimEnd()].filter((part) => part !== "").join("\n\n");
  if (script.split("\n").includes(stepDelimiter)) throw new Error(`a step script may not contain a line "${stepDelimiter}"`);
  return [
    `script=$(cat <<'${stepDelimiter}'`,
    script,
    stepDelimiter,
    ")",
    `if [ "$(id -u)" -eq 0 ]; then exec bash -c "$script" megaweb-step; else exec sudo -n bash -c "$script" megaweb-step; fi`,
  ].join("\n");
}

const fileDelimiter = "MEGAWEB_FILE";

export interface FileToWrite {
  readonly path: string;
  readonly content: string;
  /** @default "0644" */
  readonly mode?: string;
  /** @default "root:root" */
  readonly owner?: string;
}

/**
 * `put_file` calls that write each file with its content inline, so a changed line shows in the
 * step's diff. The heredoc supplies the final newline.
 */
export function putFiles(files: readonly FileToWrite[]): string {
  return files
    .map((file) => {
      const target = `put_file ${shellQuote(file.path)} ${file.mode ?? "0644"} ${file.owner ?? "root:root"}`;
      // A heredoc always ends its content with a newline; an empty file is written from nothing.
      if (file.content === "") return `${target} </dev/null`;
      const content = file.content.endsWith("\n") ? file.content.slice(0, -1) : file.content;
      if (content.split("\n").includes(fileDelimiter)) throw new Error(`${file.path}: a file may not contain a line "${fileDelimiter}"`);
      return [`${target} <<'${fileDelimiter}'`, content, fileDelimiter].join("\n");
    })
    .join("\n");
}
