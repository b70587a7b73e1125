import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

const TEST_FILES = ['**/*.test.ts', '**/*.test.tsx', '**/*.testkit.ts', '**/test-data.ts', 'src/core/formats/test-props.ts', 'src/core/formats/arbitraries.ts', 'src/core/testing/**', 'e2e/**', 'bench/**'];
const layer = (group, message) => ({ group, message });
const APP = ['**/src/app', '**/src/app/**', '**/app/**/*.tsx'];
const CLI = ['**/cli', '**/cli/**', '../cli/**', '../../cli/**'];
const WORKERS = ['**/workers', '**/workers/**'];
const CORE_PURE = [layer(['node:*', 'fs', 'path', 'os', 'child_process', 'react', 'react-dom'], 'src/core is pure TypeScript: no Node built-ins, no React (Node-only file access lives in cli/).')];
const CORE_UP = [
  // from inside src/core an import of the app reads ../../app/..., without src/
  layer([...APP, '**/app', '**/app/**'], 'src/core must not import src/app (core sits below the UI).'),
  layer(WORKERS, 'src/core must not import workers (core sits below the engines).'),
  layer(CLI, 'src/core must not import cli.'),
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['src/app/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'warn' },
  },
  // Import boundaries between layers (docs: ARCHITECTURE.md). Data flows one way:
  // core <- workers <- app, core <- cli; inside core, lm -> onnx and formats below hub / lm / chat.
  // Tests, test kits and benchmarks may import anything. ESLint applies the last matching
  // no-restricted-imports, so each block repeats the patterns of the blocks it narrows.
  {
    // Core must run unchanged in a tab, a worker and Node: no Node built-ins, no DOM, no layer above it.
    // Tests and test kits beside the code may read fixtures from disk; the code under test does not.
    files: ['src/core/**/*.ts'],
    ignores: TEST_FILES,
    rules: {
      'no-restricted-imports': ['error', { patterns: [...CORE_PURE, ...CORE_UP] }],
      'no-restricted-globals': ['error', 'window', 'document', 'process', 'Buffer', 'self', 'require'],
    },
  },
  {
    // onnx (protobuf + graph rewriting) sits below lm: lm -> onnx, never back.
    files: ['src/core/onnx/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [...CORE_PURE, ...CORE_UP, layer(['**/core/lm', '**/core/lm/**', '../lm', '../lm/**', '../../lm', '../../lm/**'], 'src/core/onnx must not import src/core/lm (lm -> onnx is one way).')] }] },
  },
  {
    // File formats are the bottom of core: no hub, no model, no chat.
    files: ['src/core/formats/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [...CORE_PURE, ...CORE_UP, layer(['**/core/hub', '**/core/hub/**', '**/core/lm', '**/core/lm/**', '**/core/chat', '**/core/chat/**', '../hub', '../hub/**', '../lm', '../lm/**', '../chat', '../chat/**'], 'src/core/formats must not import hub, lm or chat (formats sit below them).')] }] },
  },
  {
    files: ['workers/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [layer(APP, 'workers must not import src/app (engines sit below the UI).'), layer(CLI, 'workers must not import cli.'), layer(['react', 'react-dom', 'zustand'], 'workers hold no React or stores.')] }] },
  },
  {
    files: ['src/app/**/*.{ts,tsx}'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [layer(CLI, 'src/app must not import cli (the CLI is Node-only).')] }] },
  },
  {
    files: ['cli/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [layer(APP, 'cli must not import src/app.')] }] },
  },
  {
    // Commands share helpers in cli/ (fs-source, model-folder, model-flags, vector-files, persona-args), never each other.
    files: ['cli/commands/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { patterns: [layer(APP, 'cli must not import src/app.'), layer(['./*', '!./extract-store'], 'A command imports the shared helpers in cli/, not another command.')] }] },
  },
);
