#!/usr/bin/env node
/** The `sluice` command: builds dist/ first only when src/ changed since the last build, then runs it. */
import { buildIfStale } from './build.js';

if (buildIfStale()) {
  await import('../dist/cli.js');
} else {
  process.exitCode = 2;
}
