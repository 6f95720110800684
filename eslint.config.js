// Lint configuration: typescript-eslint's strictest type-checked rules, zero warnings allowed
// (`npm run lint` passes --max-warnings=0). Only adapter files may import dockerode or the
// AWS SDK: the rest of the code talks to ports in our own types (see docs/architecture.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.test-env/', '.taupage/', '.tmp-prof/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['dockerode', 'docker-modem', '@aws-sdk/*'],
              message:
                'Only adapter files (src/**/*-adapter names listed in eslint.config.js) may import dockerode or the AWS SDK.',
            },
          ],
        },
      ],
    },
  },
  {
    // Adapters: the only places that know about dockerode and the AWS SDK. Tests may use the
    // real SDK clients to talk to the wire-level emulators.
    files: [
      'src/docker/dockerode-*.ts',
      'src/logs/dockerode-*.ts',
      'src/**/kms-*.ts',
      'src/**/aws-*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', URL: 'readonly', console: 'readonly' },
    },
  },
);
