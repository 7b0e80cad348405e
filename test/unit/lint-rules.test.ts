// The architecture rules of eslint.config.js, each shown failing on a planted violation and passing a clean file.
// The violations are linted with the repo's config as if they stood at the path given (lintText's filePath), except
// the import cycle, which needs two files on disk (test/fixtures/lint/cycle, ignored by `npm run lint`).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { ESLint } from "eslint";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Paths inside a package and a service. No such file exists, so no tsconfig.json's program holds it: the project
// service types it in its default project instead, with the repo's compiler options.
const IN_PACKAGE = "packages/event-bus/src/lint-fixture.ts";
const IN_SERVICE = "services/ingest/src/lint-fixture.ts";

const eslint = new ESLint({
  cwd: root,
  // The fixture folder is kept out of `npm run lint`; the test reaches it on purpose.
  ignore: false,
  overrideConfig: {
    files: [IN_PACKAGE, IN_SERVICE],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: [IN_PACKAGE, IN_SERVICE], defaultProject: "tsconfig.base.json" },
      },
    },
  },
});

async function ruleIdsOf(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

test("a clean file in a package passes", async () => {
  const clean = [
    'import { randomUUID } from "node:crypto";',
    "",
    "export async function newId(options: { prefix: string }): Promise<string> {",
    "  await Promise.resolve();",
    "  return `${options.prefix}-${randomUUID()}`;",
    "}",
    "",
  ].join("\n");
  assert.deepEqual(await ruleIdsOf(clean, IN_PACKAGE), []);
});

test("an import cycle fails", async () => {
  const results = await eslint.lintFiles(["test/fixtures/lint/cycle/a.ts", "test/fixtures/lint/cycle/b.ts"]);
  for (const result of results) {
    assert.deepEqual(
      result.messages.map((m) => m.ruleId),
      ["import-x/no-cycle"],
      result.filePath,
    );
  }
  assert.equal(results.length, 2);
});

test("a deep import past a package's exports fails", async () => {
  for (const specifier of ["@aa/event-bus/src/index.js", "@aa/event-bus/dist/index.js"]) {
    const code = `import { retryDelayMs } from "${specifier}";\n\nexport const delay = retryDelayMs;\n`;
    // `.../dist/...` matches two of the patterns, one report each.
    assert.deepEqual([...new Set(await ruleIdsOf(code, IN_SERVICE))], ["no-restricted-imports"], specifier);
  }
});

test("a relative import into another workspace fails", async () => {
  const code =
    'import { retryDelayMs } from "../../../packages/event-bus/src/index.js";\n\nexport const d = retryDelayMs;\n';
  assert.deepEqual(await ruleIdsOf(code, IN_SERVICE), ["import-x/no-relative-packages"]);
});

test("process.env in a package fails, in a service it passes", async () => {
  const code = 'export const natsUrl = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";\n';
  assert.deepEqual(await ruleIdsOf(code, IN_PACKAGE), ["no-restricted-properties"]);
  assert.deepEqual(await ruleIdsOf(code, IN_SERVICE), []);
  const imported = 'import { env } from "node:process";\n\nexport const natsUrl = env["NATS_URL"];\n';
  assert.deepEqual(await ruleIdsOf(imported, IN_PACKAGE), ["no-restricted-imports"]);
});

test("a floating promise fails; awaited or voided it passes", async () => {
  const declare = "async function flush(): Promise<void> {}\n\nexport async function close(): Promise<void> {\n";
  assert.deepEqual(await ruleIdsOf(`${declare}  flush();\n}\n`, IN_PACKAGE), [
    "@typescript-eslint/no-floating-promises",
  ]);
  assert.deepEqual(await ruleIdsOf(`${declare}  await flush();\n}\n`, IN_PACKAGE), []);
  assert.deepEqual(await ruleIdsOf(`${declare}  void flush();\n}\n`, IN_PACKAGE), []);
});
