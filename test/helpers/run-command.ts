import type { Command } from 'commander';

/** Runs a CLI command in this process, as `facegender <command> …args` would, capturing what it prints. */
export async function runCommand(command: Command, args: string[]): Promise<{ stdout: string; error?: Error }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => void lines.push(parts.map(String).join(' '));
  try {
    await command.exitOverride().parseAsync(args, { from: 'user' });
    return { stdout: lines.join('\n') };
  } catch (error) {
    return { stdout: lines.join('\n'), error: error as Error };
  } finally {
    console.log = log;
  }
}
