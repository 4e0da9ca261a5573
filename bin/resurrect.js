#!/usr/bin/env node
'use strict';
// The CLI runs the TypeScript sources through tsx, which also lets operators drop TypeScript plugins into
// workflows/ or plugins/ without a build step.
require('tsx/cjs');
require('../src/cli/main.ts')
  .main(process.argv)
  .then((code) => { process.exitCode = code; })
  .catch((err) => {
    process.stderr.write(`resurrect: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
