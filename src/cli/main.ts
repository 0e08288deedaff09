#!/usr/bin/env node
// The `meshpeer` executable: every subcommand, with process I/O.
import { controllerCommand } from './controller-command.js';
import { demoCommand } from './demo-command.js';
import { gatewayCommand } from './gateway-command.js';
import { processIo } from './io.js';
import { proxyCommand } from './proxy-command.js';
import { run } from './run.js';
import { serverCommand } from './server-command.js';

// `meshpeer catalog services | head -1`: a reader that goes away ends us quietly, as SIGPIPE would.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// No top-level await: the build bundles this file as CommonJS (src/cli/bundle.mjs).
void run(process.argv.slice(2), processIo(), {
  extraCommands: [serverCommand(), controllerCommand(), demoCommand(), gatewayCommand(), proxyCommand()],
}).then((code) => {
  process.exitCode = code;
});
