export { checkCall, checkCommands, FAILING, type CallCheck, type CallVerdict, type CommandSummary, type CompatReport } from './check.js';
export { parseCommands, splitArgs, type ParsedCall, type ParsedInput } from './parse.js';
export { arityProblem, multiKeyCall, NUTCRACKER_COMMANDS, type ArgClass } from './nutcracker-commands.js';
export { REDIS_COMMANDS } from './redis-commands.js';
export { compatReport } from './report.js';
