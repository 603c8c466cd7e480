import type { Command } from 'commander';

// Placeholder until the command is built; registers nothing, so the CLI reports it as unknown.
export function register(_program: Command): void {}
