// ESLint flat config: typescript-eslint's recommended rules over every TypeScript source; formatting is Prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", ".data/**", "coverage/**"] },
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
);
