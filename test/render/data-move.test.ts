import { describe, expect, it } from "vitest";
import { renderDatabaseMove } from "../../lib/render/data-move";

/** The database move's render: the target's credentials on stdin only. test/daemons/data-move.test.ts runs it. */

const render = renderDatabaseMove({
  domain: "shop.example.com",
  database: "shop_example_com",
  user: "shop_example_com",
  envFile: "/var/www/shop_example_com/.env",
  hostVariable: "DB_HOST",
  target: { host: "10.20.0.5", port: 3306 },
  password: "<secret:mysql:shop.example.com>",
});

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
