/**
 * Reads a rendered systemd unit the way systemd does, so a test on a machine without systemd as
 * PID 1 can start exactly what the unit would: its `ExecStart=` as its `User=`/`Group=` in its
 * `WorkingDirectory=` with its `Environment=`.
 */

export interface UnitProcess {
  readonly user: string;
  readonly group: string;
  readonly workingDirectory: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly argv: readonly string[];
}

export function unitProcess(unit: string): UnitProcess {
  const setting = (key: string) => {
    const match = new RegExp(`^${key}=(.*)$`, "m").exec(unit);
    if (match === null) throw new Error(`the unit has no ${key}=`);
    return match[1]!;
  };
  const environment = Object.fromEntries(
    [...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((match) => systemdWords(match[1]!).map((pair) => pair.split(/=(.*)/s, 2) as [string, string])),
  );
  return {
    user: setting("User"),
    group: setting("Group"),
    workingDirectory: setting("WorkingDirectory"),
    environment,
    argv: systemdWords(setting("ExecStart")),
  };
}

/**
 * systemd's command-line splitting (systemd.service, "Command lines"): words split on whitespace,
 * double or single quotes group, backslash escapes inside them, `$$` is `$` and `%%` is `%`.
 * `$VAR` expansion and other specifiers are refused: the rendered units must not rely on them.
 */
export function systemdWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    const next = line[index + 1];
    if (quote === undefined && /\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    word ??= "";
    if (char === quote) quote = undefined;
    else if (quote === undefined && (char === '"' || char === "'")) quote = char;
    else if (char === "\\" && next !== undefined) {
      word += next;
      index++;
    } else if ((char === "$" || char === "%") && next === char) {
      word += char;
      index++;
    } else if (char === "$" || char === "%") throw new Error(`a lone ${char} in ${JSON.stringify(line)}: systemd would expand it`);
    else word += char;
  }
  if (quote !== undefined) throw new Error(`an unclosed ${quote} in ${JSON.stringify(line)}`);
  if (word !== undefined) words.push(word);
  return words;
}

const shellWord = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * The shell line that starts a unit's process as systemd would (clean environment but for what
 * the unit sets and what `User=` implies), for the systemctl stand-in's `start`.
 */
export function unitShellLine(process: UnitProcess): string {
  const environment = { PATH: "/usr/local/bin:/usr/bin:/bin", USER: process.user, LOGNAME: process.user, ...process.environment };
  return [
    "setpriv",
    `--reuid=${process.user}`,
    `--regid=${process.group}`,
    "--init-groups",
    "env",
    "-i",
    ...Object.entries(environment).map(([key, value]) => shellWord(`${key}=${value}`)),
    ...process.argv.map(shellWord),
  ].join(" ");
}
