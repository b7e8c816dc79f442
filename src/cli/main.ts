import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { compareCommand } from './compare.js';
import { dataCommand } from './data.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { quickstartCommand } from './quickstart.js';
import { rankCommand } from './rank.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { trainCommand } from './train.js';

export function buildProgram(): Command {
  const program = new Command('din')
    .description('Deep Interest Network (Zhou et al., KDD 2018) and BaseModel for CTR prediction')
    .version(packageVersion())
    .showHelpAfterError()
    .addCommand(quickstartCommand())
    .addCommand(trainCommand())
    .addCommand(evalCommand())
    .addCommand(compareCommand())
    .addCommand(dataCommand())
    .addCommand(serveCommand())
    .addCommand(rankCommand());
  program.addCommand(exportCommand());
  program.addCommand(reportCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`din: ${err.message}\n`);
    if (process.env.DIN_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  return pkg.version as string;
}
