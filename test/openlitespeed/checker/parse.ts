/**
 * A parser for OpenLiteSpeed's plain-text config format that follows `plainconf.cpp` (OLS 1.9.1):
 * line based, `{` only as the last character of a line, `}` only as the first, no trailing
 * comments, `<<<TAG` heredocs, `\` continuations and `include` lines. It keeps the tree as
 * written (it does not drop unknown blocks the way the server does) so the checks can point at
 * the exact line a server would misread; the findings it can only see on raw lines (S1, S2 text
 * after `}`, S4 stray `<<<`, S5, S6) are reported here.
 */

export type OlsCheckId =
  | "S1"
  | "S2"
  | "S3"
  | "S4"
  | "S5"
  | "S6"
  | "S7"
  | "S8"
  | "R1"
  | "R2"
  | "R3"
  | "R4"
  | "R5"
  | "R6"
  | "R7"
  | "R8"
  | "V1"
  | "V2"
  | "V3"
  | "V4"
  | "V5"
  | "V6"
  | "V7"
  | "V8"
  | "V9"
  | "V10"
  | "V11"
  | "V12"
  | "V13"
  | "V14"
  | "D1";

export interface OlsFinding {
  check: OlsCheckId;
  file: string;
  /** 1-based physical line; 0 when the finding is about something missing from the file. */
  line: number;
  message: string;
}

/** Where a node was written: its own file, which differs from the parent's when included. */
export interface OlsPlace {
  file: string;
  /** 1-based physical line. */
  line: number;
}

export interface OlsStatement extends OlsPlace {
  kind: "statement";
  name: string;
  /** The rest of the line with leading blanks skipped, or a heredoc's body. */
  value: string;
  heredoc: boolean;
}

export interface OlsBlock extends OlsPlace {
  kind: "block";
  name: string;
  /** The text between the name and `{`: a vhost or listener name, a URI, a log path. */
  value: string;
  children: OlsNode[];
}

/** An `include` line; the files it names are parsed in place, right after it. */
export interface OlsInclude extends OlsPlace {
  kind: "include";
  path: string;
}

export type OlsNode = OlsStatement | OlsBlock | OlsInclude;

/** A config file's text by its path. */
export interface OlsSource {
  readonly path: string;
  readonly content: string;
}

/**
 * The files an `include PATH` line loads, in order, or undefined when PATH names nothing. OLS reads
 * a directory's `*.conf` files sorted by name and expands `* ? [ ]` (GRAMMAR.md §2.10).
 */
export type OlsIncludeResolver = (path: string, fromFile: string) => readonly OlsSource[] | undefined;

export interface ParsedOlsFile {
  file: string;
  /** The implicit top-level block (`httpServerConfig` or `virtualHostConfig` in the server). */
  root: OlsBlock;
  findings: OlsFinding[];
}

/** `loadConfFile` aborts the whole file on a line of 8192 bytes or more. */
const maxLineBytes = 8191;
/** `appendBuf` stops collecting a heredoc past 64 KiB. */
const maxHeredocBytes = 64 * 1024;

const blank = /[ \t\r\n]+/;

function trimConf(text: string): string {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
}

/** `isChunkedLine`: exactly one trailing backslash joins the next line. */
function endsInContinuation(text: string): boolean {
  return text.endsWith("\\") && !text.endsWith("\\\\");
}

/** `isValidline`: blank lines, `#` lines and lines of only `#`, blanks and `\` carry nothing. */
function isIgnorable(text: string): boolean {
  return text === "" || text.startsWith("#") || /^[#\s\\]*$/.test(text);
}

function splitNameValue(text: string): { name: string; value: string } {
  const match = blank.exec(text);
  if (!match) return { name: text, value: "" };
  return { name: text.slice(0, match.index), value: text.slice(match.index).replace(/^[ \t]+/, "") };
}

export function parseOlsConfig(text: string, file: string, resolveInclude?: OlsIncludeResolver): ParsedOlsFile {
  const root: OlsBlock = { kind: "block", name: "", value: "", file, line: 0, children: [] };
  const open: OlsBlock[] = [root];
  const findings: OlsFinding[] = [];
  parseLines(text, file, { open, findings, resolveInclude, including: [file] });
  for (const block of open.slice(1)) {
    findings.push({
      check: "S1",
      file: block.file,
      line: block.line,
      message: `block "${`${block.name} ${block.value}`.trim()}" is never closed ('{' and '}' do not match at end of file)`,
    });
  }
  return { file, root, findings };
}

interface ParseState {
  /** Innermost last; an included file continues at the includer's nesting level. */
  readonly open: OlsBlock[];
  readonly findings: OlsFinding[];
  readonly resolveInclude?: OlsIncludeResolver;
  /** The chain of files being read, to refuse an include loop. */
  readonly including: readonly string[];
}

function parseLines(text: string, file: string, state: ParseState): void {
  const { open } = state;
  const lines = text.split("\n");
  const depthAtStart = open.length;
  const report = (check: OlsCheckId, line: number, message: string) => state.findings.push({ check, file, line, message });
  const add = (node: OlsNode) => open[open.length - 1]!.children.push(node);

  let index = 0;
  while (index < lines.length) {
    const lineNo = index + 1;
    const raw = lines[index++] ?? "";
    if (Buffer.byteLength(raw) > maxLineBytes) {
      report("S6", lineNo, `line is ${Buffer.byteLength(raw)} bytes; OLS aborts the file on lines over ${maxLineBytes}`);
    }
    let text = trimConf(raw);
    while (endsInContinuation(text) && index < lines.length) {
      report("S6", lineNo, "line ends in a single `\\`, so OLS joins it with the next line");
      text = text.slice(0, -1) + trimConf(lines[index++] ?? "");
    }
    if (isIgnorable(text)) continue;

    if (text.slice(0, 7).toLowerCase() === "include") {
      const path = trimConf(text.slice(7));
      add({ kind: "include", path, file, line: lineNo });
      const included = state.resolveInclude?.(path, file);
      for (const source of included ?? []) {
        if (state.including.includes(source.path)) {
          report("S1", lineNo, `include ${path} reads ${source.path} again, which is already being read`);
          continue;
        }
        parseLines(source.content, source.path, { ...state, including: [...state.including, source.path] });
      }
      continue;
    }

    if (text.startsWith("}")) {
      if (open.length <= depthAtStart) report("S1", lineNo, "`}` without an open block in this file (OLS: found more '}')");
      if (open.length > 1) open.pop();
      text = trimConf(text.slice(1));
      if (text === "") continue;
      report("S2", lineNo, `text after \`}\` ("${text}") is parsed as another statement`);
    }

    if (text.endsWith("{")) {
      const { name, value } = splitNameValue(trimConf(text.slice(0, -1)));
      const block: OlsBlock = { kind: "block", name, value: trimConf(value), file, line: lineNo, children: [] };
      add(block);
      open.push(block);
      continue;
    }

    const heredocAt = text.indexOf("<<<");
    if (heredocAt >= 0) {
      const head = splitNameValue(text.slice(0, heredocAt));
      const tag = trimConf(text.slice(heredocAt + 3));
      if (heredocAt === 0 || trimConf(head.value) !== "") {
        report("S4", lineNo, "`<<<` inside a value starts a heredoc; it must follow the key directly (`key <<<TAG`)");
      }
      if (tag === "" || blank.test(tag)) {
        report("S5", lineNo, `heredoc tag "${tag}" must be one non-empty word`);
        continue;
      }
      const body: string[] = [];
      let closed = false;
      while (index < lines.length) {
        const bodyLine = lines[index++] ?? "";
        const firstWord = trimConf(bodyLine).split(blank)[0] ?? "";
        if (firstWord.toLowerCase() === tag.toLowerCase()) {
          closed = true;
          break;
        }
        body.push(bodyLine.replace(/\r$/, ""));
      }
      const value = body.join("\n").replace(/\s+$/, "");
      if (!closed) report("S5", lineNo, `heredoc <<<${tag} is never closed by a line starting with ${tag}`);
      if (Buffer.byteLength(value) > maxHeredocBytes) {
        report("S5", lineNo, `heredoc <<<${tag} is ${Buffer.byteLength(value)} bytes; OLS keeps at most ${maxHeredocBytes}`);
      }
      add({ kind: "statement", name: head.name, value, file, line: lineNo, heredoc: true });
      continue;
    }

    const { name, value } = splitNameValue(text);
    add({ kind: "statement", name, value, file, line: lineNo, heredoc: false });
  }

  // S1 holds per file: an included file that leaves a block open changes the nesting of
  // everything after its include line (closing one of its includer's is reported at the "}").
  if (state.including.length > 1) {
    for (const block of open.splice(depthAtStart)) {
      report("S1", block.line, `block "${`${block.name} ${block.value}`.trim()}" is never closed in this included file`);
    }
  }
}

/** Keys compare case-insensitively in OLS (`XmlNode` is built with `s_case_insensitive = 1`). */
export function isNamed(node: OlsNode, name: string): boolean {
  return node.kind !== "include" && node.name.toLowerCase() === name.toLowerCase();
}

export function blocksNamed(parent: OlsBlock, name: string): OlsBlock[] {
  return parent.children.filter((child): child is OlsBlock => child.kind === "block" && isNamed(child, name));
}

export function statementsNamed(parent: OlsBlock, name: string): OlsStatement[] {
  return parent.children.filter((child): child is OlsStatement => child.kind === "statement" && isNamed(child, name));
}

/** The value OLS uses for a single-valued key: the first occurrence wins (`XmlNode::getChild`). */
export function firstValue(parent: OlsBlock, name: string): OlsStatement | undefined {
  return statementsNamed(parent, name)[0];
}
