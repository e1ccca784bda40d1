// typescript-eslint's recommended rules with type information (the project's own tsconfig.json).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'bench/out/', 'captures/', 'eslint.config.js', '.dependency-cruiser.cjs'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // infra/main.js: the one JavaScript file (Pulumi's entry point), checked with tsconfig.json's defaults.
        projectService: { allowDefaultProject: ['infra/main.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A leading underscore marks what a signature or a destructuring names on purpose without using it.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // A function is read at once: outside the tests (whose cases read as tables), none runs past a screen.
    ignores: ['tests/**'],
    rules: { 'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }] },
  },
);
