#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { FacegenderError } from '../errors.js';
import { basesCommand } from './bases-command.js';
import { compareCommand } from './compare-command.js';
import { embedCommand } from './embed-command.js';
import { evaluateCommand } from './evaluate-command.js';
import { exportCommand } from './export-command.js';
import { predictCommand } from './predict-command.js';
import { reportCommand } from './report-command.js';
import { serveCommand } from './serve-command.js';
import { splitCommand } from './split-command.js';
import { trainCommand } from './train-command.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('facegender')
    .description('Train, evaluate, compare and serve facial gender classifiers built by transfer learning')
    .version(version)
    .option('--debug', 'print stack traces on errors', false)
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(splitCommand());
  program.addCommand(basesCommand());
  program.addCommand(embedCommand());
  program.addCommand(trainCommand());
  program.addCommand(evaluateCommand());
  program.addCommand(compareCommand());
  program.addCommand(reportCommand());
  program.addCommand(predictCommand());
  program.addCommand(serveCommand());
  program.addCommand(exportCommand());
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (program.opts().debug || !(e instanceof FacegenderError)) console.error(e);
    else console.error(`error: ${e.message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
