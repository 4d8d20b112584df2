// @ts-check
import eslint from "@eslint/js";
import importX, { createNodeResolver } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

const productBoundary = {
  group: ["**/devbed/**", "**/test/**", "**/bench/**"],
  message:
    "product code (apis, controller, functions, package) may not import the development bed, tests or benchmarks",
};

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "**/*.generated.ts", "eslint.config.js", "bench-results/"],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          // node:test runs these itself and reports their failures.
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "no-empty": ["error", { allowEmptyCatch: false }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { ignoreRestSiblings: true, argsIgnorePattern: "^_" },
      ],
    },
  },
  {
    // No import cycles anywhere: a module's dependencies are read before it.
    files: ["**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"] })],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    // The product never depends on the development bed or the tests: they do
    // not ship (npm run build and the images leave them out).
    files: ["apis/**/*.ts", "controller/**/*.ts", "functions/**/*.ts", "package/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [productBoundary] }],
    },
  },
  {
    // The contract between function and provider is apis/: the provider, the
    // engine and the Kafka rules import nothing of the function's own (the
    // CLI, which wires the function in, may).
    files: ["controller/**/*.ts"],
    ignores: ["controller/cli/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            productBoundary,
            {
              group: ["**/functions/stretch-kafka/**"],
              message:
                "the controller shares with the function only what apis/ states; move what both need there",
            },
          ],
        },
      ],
    },
  },
);
