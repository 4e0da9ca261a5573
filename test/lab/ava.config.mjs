// The lab suite (`npm run test:lab`): one real OpenStack, so one test at a time, with room for a real cloud's pace.
export default {
  files: ['test/lab/**/*.lab.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  serial: true,
  concurrency: 1,
  timeout: '5m',
};
