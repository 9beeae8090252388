import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { App } from "../../lib/schema/app";
import { ExistingHost, InfrastructureFields } from "../../lib/schema/infrastructure";
import { Access, Caching, Database, FpmPool, PhpSettings, ProxyUpstream, SiteFields } from "../../lib/schema/site";

/**
 * The TSDoc of the schema is what users read (the README points at it, editors show it), so a
 * field's `@default` must say what its `.default()` gives: the value the tag names, parsed by the
 * field, equals what the field gives when the key is left out.
 */

const repo = join(__dirname, "..", "..");
const sourceFiles = ["lib/schema/infrastructure.ts", "lib/schema/site.ts", "lib/schema/app.ts"].map((path) =>
  ts.createSourceFile(path, readFileSync(join(repo, path), "utf8"), ts.ScriptTarget.ES2022, true),
);

/** Every object schema declared on its own; a field holding one of these is checked at its declaration, not again inline. */
const declared: Record<string, z.ZodType> = {
  InfrastructureFields,
  ExistingHost,
  App,
  SiteFields,
  PhpSettings,
  FpmPool,
  Database,
  Caching,
  Access,
  ProxyUpstream,
};

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; shape?: Record<string, z.ZodType>; defaultValue?: unknown };
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schema under defaults, optionals and transforms, if there is one. */
function objectOf(schema: z.ZodType): z.ZodType | undefined {
  const def = defOf(schema);
  if (def.type === "object") return schema;
  const inner = def.innerType ?? def.in;
  return inner === undefined ? undefined : objectOf(inner);
}
const shapeOf = (schema: z.ZodType) => defOf(objectOf(schema)!).shape!;
const declaredObjects = new Set(Object.values(declared).map(objectOf));

/** The object literal of the first `z.object(...)` / `z.looseObject(...)` call in a node (depth first, so the outermost). */
function objectLiteralIn(node: ts.Node): ts.ObjectLiteralExpression | undefined {
  if (
    ts.isCallExpression(node) &&
    /^z\.(object|looseObject)$/.test(node.expression.getText().replace(/\s/g, "")) &&
    node.arguments[0] &&
    ts.isObjectLiteralExpression(node.arguments[0])
  ) {
    return node.arguments[0];
  }
  return ts.forEachChild(node, objectLiteralIn);
}

function declarationOf(name: string): ts.ObjectLiteralExpression {
  for (const source of sourceFiles) {
    for (const statement of source.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      const found = statement.declarationList.declarations.find((each) => each.name.getText() === name);
      const literal = found?.initializer && objectLiteralIn(found.initializer);
      if (literal) return literal;
    }
  }
  throw new Error(`no z.object declaration named ${name}`);
}

interface DocumentedField {
  readonly path: string;
  readonly schema: z.ZodType;
  /** The text of its `@default` tag, when it has one. */
  readonly defaultTag?: string;
}

/** Each field of an object schema with its doc, inline object fields included. */
function documentedFields(schema: z.ZodType, literal: ts.ObjectLiteralExpression, prefix: string): DocumentedField[] {
  return Object.entries(shapeOf(schema)).flatMap(([key, field]) => {
    const property = literal.properties.find((each) => each.name?.getText() === key);
    if (property === undefined) throw new Error(`${prefix}${key} is not written in the source as a property`);
    const tag = ts.getJSDocTags(property).find((each) => each.tagName.text === "default");
    const here: DocumentedField = { path: `${prefix}${key}`, schema: field, defaultTag: tag && ts.getTextOfJSDocComment(tag.comment)?.trim() };
    const nested = objectOf(field);
    const inline = nested && !declaredObjects.has(nested) && ts.isPropertyAssignment(property) ? objectLiteralIn(property.initializer) : undefined;
    return [here, ...(inline ? documentedFields(nested!, inline, `${prefix}${key}.`) : [])];
  });
}

const fields = Object.entries(declared).flatMap(([name, schema]) => documentedFields(schema, declarationOf(name), `${name}.`));
const withDefault = fields.filter((field) => defOf(field.schema).type === "default");

describe("the schema's documented defaults", () => {
  it("finds the fields with a default in every part of the schema", () => {
    expect(withDefault.length).toBeGreaterThan(40);
    expect(withDefault.map((field) => field.path)).toEqual(
      expect.arrayContaining(["InfrastructureFields.phase", "SiteFields.webServer", "App.port", "App.database.name"]),
    );
  });

  it.each(withDefault.map((field) => [field.path, field] as const))("%s documents the default it has", (_, field) => {
    expect(field.defaultTag, `${field.path} has a .default() but no @default tag`).toBeDefined();
    // The tag holds a JavaScript literal, as a user would write the value in a program.
    const documented: unknown = new Function(`return (${field.defaultTag});`)();
    expect(field.schema.parse(documented)).toEqual(field.schema.parse(undefined));
  });

  it("would catch a tag that says something else", () => {
    const port = withDefault.find((field) => field.path === "App.port")!;
    expect(port.schema.parse(3001)).not.toEqual(port.schema.parse(undefined));
  });
});
