// Lint rules: the recommended sets of ESLint and typescript-eslint, nothing exotic, so that
// a student's editor shows the same warnings as CI.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".lab/", "reports/", "data/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  { files: ["**/*.js", "**/*.cjs"], rules: { "@typescript-eslint/no-require-imports": "off" } },
  // The live view's page script runs in the browser.
  { files: ["scripts/dashboard/page/**/*.js"], languageOptions: { globals: { ...globals.browser } } },
);
