// Entry point of the supervisor process: node supervisor-main.js <child-pid-file> <log-file> -- <argv...>
import { runSupervisor } from './supervisor.js';

const args = process.argv.slice(2);
const sep = args.indexOf('--');
if (sep !== 2 || args.length < 4) {
  process.stderr.write('usage: supervisor-main.js <child-pid-file> <log-file> -- <argv...>\n');
  process.exit(2);
}
runSupervisor({ childPidFile: args[0]!, logFile: args[1]!, command: args.slice(3) });
