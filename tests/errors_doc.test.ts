// docs/errors.md documents every error code: a row in its table and a paragraph
// of detail for each ErrorCode key, and no code that core/errors.ts does not have.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ErrorCode } from "../core/errors.ts";

const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");

test("docs/errors.md has a table row and a paragraph for every ErrorCode, and only those", () => {
  const rows = [...doc.matchAll(/^\| `([A-Z_]+)` +\|/gm)].map((match) => match[1]);
  const codes = Object.keys(ErrorCode);
  for (const code of codes) {
    assert.ok(rows.includes(code), `docs/errors.md has no table row for ${code}`);
    assert.ok(doc.includes(`**\`${code}\`**`), `docs/errors.md has no paragraph for ${code}`);
  }
  assert.deepEqual([...rows].sort(), [...codes].sort(), "the table lists each code once, and no other");
});
