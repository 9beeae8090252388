import { describe, expect, it } from "vitest";
import { renderDatabaseForget, renderDatabaseMove, renderRedisForget, renderRedisMove } from "../../lib/render/data-move";

/**
 * The data moves' renders and those of the forgets that drop the copies they leave: the secrets on
 * stdin only. test/daemons/data-move.test.ts and redis-move.test.ts run them.
 */

const input = {
  domain: "shop.example.com",
  database: "shop_example_com",
  user: "shop_example_com",
  envFile: "/var/www/shop_example_com/.env",
  hostVariable: "DB_HOST",
  target: { host: "10.20.0.5", port: 3306 },
  password: "<secret:mysql:shop.example.com>",
} as const;
const render = renderDatabaseMove(input);
const forget = renderDatabaseForget(input);
const redis = { sourcePort: 6379, target: { host: "10.20.0.6", port: 6379 }, password: "<secret:redis>" };

describe("a site's database move", () => {
  it("hands the target's credentials to the client as a defaults file on stdin, never in the script", () => {
    expect(render.stdin).toBe("[client]\nhost=10.20.0.5\nport=3306\nuser=shop_example_com\npassword=<secret:mysql:shop.example.com>\n");
    expect(render.script).not.toContain("<secret:");
    expect(render.script).toContain('target() { mariadb --defaults-extra-file="$target_cnf" "$@"; }');
  });

  it("moves only while the site's .env names another host than the plan's", () => {
    expect(render.script).toContain("env_file=/var/www/shop_example_com/.env");
    expect(render.script).toContain('if [ -f "$env_file" ]; then current=$(sed -n \'s/^DB_HOST=//p\' "$env_file"');
    expect(render.script).toContain('if [ -z "$current" ] || [ "$current" = 10.20.0.5 ]; then');
  });
});

describe("the forget of a site's database move", () => {
  it("gets the same credentials as the move, on stdin only", () => {
    expect(forget.stdin).toBe(render.stdin);
    expect(forget.script).not.toContain("<secret:");
    expect(forget.script).toContain('target() { mariadb --defaults-extra-file="$target_cnf" "$@"; }');
  });

  it("reads where the data is as the move does, and drops the old copy only once the .env names the plan's host", () => {
    const whereTheDataIs = render.script.slice(render.script.indexOf("env_file="), render.script.indexOf("if [ -z"));
    expect(forget.script).toContain(whereTheDataIs);
    expect(forget.script.indexOf('if [ "$current" != 10.20.0.5 ]; then')).toBeGreaterThan(forget.script.indexOf(whereTheDataIs));
    expect(forget.script.indexOf('if [ "$current" != 10.20.0.5 ]; then')).toBeLessThan(forget.script.indexOf("DROP DATABASE \\`shop_example_com\\`"));
  });
});

describe("the single box's Redis move and its forget", () => {
  it("hand the password to redis-cli on stdin, never in the script", () => {
    for (const rendered of [renderRedisMove(redis), renderRedisForget(redis)]) {
      expect(rendered.stdin).toBe("<secret:redis>\n");
      expect(rendered.script).not.toContain("<secret:");
      expect(rendered.script).toContain("IFS= read -r password\nexport REDISCLI_AUTH=$password");
    }
  });

  it("forgets only a copy that names the plan's host as where it moved, as a user of its own", () => {
    const script = renderRedisForget(redis).script;
    expect(script).toContain('if [ "$moved_to" != 10.20.0.6 ]; then');
    expect(script).toContain("--user megaweb-forget --no-auth-warning FLUSHALL");
    expect(script.indexOf('if [ "$moved_to" != 10.20.0.6 ]; then')).toBeLessThan(script.indexOf("FLUSHALL"));
  });
});
