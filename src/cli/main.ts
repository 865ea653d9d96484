// refusal-lens: the engine from the command line. Runs the engine in-process (no child process),
// the same code the extension's engine process runs.
import pkg from '../../package.json';
import { toRpcError } from '../engine/server';
import { UsageError } from './args';
import * as ablate from './commands/ablate';
import * as capabilityCmd from './commands/capability';
import * as compare from './commands/compare';
import * as doctor from './commands/doctor';
import * as exportCmd from './commands/export';
import * as extract from './commands/extract';
import * as fixtureCmd from './commands/fixture';
import * as generate from './commands/generate';
import * as heads from './commands/heads';
import * as inspect from './commands/inspect';
import * as intervene from './commands/intervene';
import * as lens from './commands/lens';
import * as organism from './commands/organism';
import * as score from './commands/score';
import * as space from './commands/space';

interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = { inspect, doctor, generate, extract, score, heads, lens, compare, ablate, capability: capabilityCmd, space, intervene, export: exportCmd, organism, fixture: fixtureCmd };

const USAGE = `usage: refusal-lens <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}
  version    print the version

Run 'refusal-lens <command> --help' for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  if (name === 'version' || name === '--version') {
    console.log(pkg.version);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`refusal-lens: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  const json = rest.includes('--json');
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`refusal-lens ${name}: ${e.message}\n\n${command.help}`);
      return 2;
    }
    // The engine's own classification: coded errors keep their code, failed allocations are OUT_OF_MEMORY.
    const { code, message } = toRpcError(e);
    if (json) console.log(JSON.stringify({ error: { code, message } }));
    console.error(`refusal-lens ${name}: ${code === 'INTERNAL' ? (e as Error).stack : message}`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
