// ESLint flat config: typescript-eslint's recommended rules over every TypeScript source; formatting is Prettier's job.
// The architecture rules (no import cycle, packages entered only by their entry, no env in packages, no promise left
// floating) are shown failing on planted violations by test/unit/lint-rules.test.ts.
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

// Another package's files are private; built output is never imported by path.
const PRIVATE_FILES = [
  {
    group: ["@aa/*/**"],
    message: "A workspace package is entered by its entry (`@aa/<name>`) only; its files are private.",
  },
  { group: ["**/dist", "**/dist/**"], message: "Import the sources (or the package's entry), never built output." },
];
const ENV_IN_PACKAGE = "Packages take configuration as arguments; the service or tool reads the environment.";

export default tseslint.config(
  {
    // test/fixtures/lint holds planted violations; the lint-rules unit test lints them on purpose.
    ignores: ["**/dist/**", "**/node_modules/**", ".data/**", "coverage/**", "test/fixtures/lint/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        fetch: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        setImmediate: "readonly",
        queueMicrotask: "readonly",
        performance: "readonly",
        Response: "readonly",
        Headers: "readonly",
      },
    },
    rules: {
      // `_name` marks a parameter kept for its position (callbacks, handlers).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  {
    // Prettier wraps code at 120 but never breaks strings or comments, so this keeps those on screen too.
    files: ["**/*.{ts,mts,js,mjs}"],
    ignores: ["test/**"],
    rules: { "max-len": ["error", { code: 120, ignoreUrls: true }] },
  },
  {
    files: ["**/*.{ts,mts}"],
    plugins: { "import-x": importX },
    languageOptions: {
      // Typed linting: each file is checked in the program of its nearest tsconfig.json.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    settings: {
      // Sources import `./x.js` for `./x.ts` (NodeNext); the TypeScript resolver follows that.
      "import-x/resolver-next": [createTypeScriptImportResolver()],
      // Without these the cycle search reads only .js files and never follows an import into TypeScript.
      "import-x/extensions": [".ts", ".mts", ".js", ".mjs"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts", ".mts"] },
      // Built output mirrors the sources; following it would only slow the cycle search.
      "import-x/ignore": ["/dist/"],
    },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      // A promise nobody awaits loses its rejection and its ordering: await it, or `void` it with a comment saying why.
      "@typescript-eslint/no-floating-promises": "error",
      "no-restricted-imports": ["error", { patterns: PRIVATE_FILES }],
    },
  },
  {
    // A workspace reaches another only through its package name, never by a relative path into its folder.
    files: ["packages/**/*.{ts,mts}", "services/**/*.{ts,mts}", "tools/**/*.{ts,mts}"],
    rules: { "import-x/no-relative-packages": "error" },
  },
  {
    // test/ has no tsconfig.json of its own (tsconfig.test.json is for tsc), so its files are linted without types.
    files: ["test/**/*.{ts,mts}"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Libraries take their configuration as arguments; only services and tools read the environment, at their edge.
    files: ["packages/**/*.{ts,mts}"],
    rules: {
      "no-restricted-properties": ["error", { object: "process", property: "env", message: ENV_IN_PACKAGE }],
      "no-restricted-imports": [
        "error",
        {
          patterns: PRIVATE_FILES,
          paths: ["process", "node:process"].map((name) => ({ name, importNames: ["env"], message: ENV_IN_PACKAGE })),
        },
      ],
    },
  },
);
