#!/usr/bin/env node
'use strict';
// The CLI runs the TypeScript sources through tsx, with its CommonJS and ESM hooks both (plugins are loaded
// with import()), which also lets operators drop TypeScript plugins into workflows/ or plugins/ unbuilt.
// `resurrect audit … | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); throw err; });
require('tsx/cjs/api').register();
import('tsx/esm/api')
  .then(({ register }) => {
    register();
    return require('../src/cli/main.ts').main(process.argv);
  })
  .then((code) => {
    process.exitCode = code;
    // A long-running command (start, worker) has cleaned up by now; a client still reconnecting to a Redis
    // that went away must not keep the process alive. Unref'd: an idle process exits without waiting.
    setTimeout(() => process.exit(code), 500).unref();
  })
  .catch((err) => {
    process.stderr.write(`resurrect: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
