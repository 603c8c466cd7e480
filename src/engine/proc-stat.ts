import { readFileSync } from 'node:fs';

/**
 * /proc/PID/stat (Linux), the fields we use. The command name in parentheses may hold spaces and parentheses,
 * so fields are counted from the last ')'.
 */
export interface ProcStat {
  /** R, S, D, Z, T... */
  state: string;
  /** Start time in clock ticks since boot (field 22): with the PID, an identity that survives PID reuse. */
  startTicks: number;
}

export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text.slice(close + 2).split(' ');
  const startTicks = Number(fields[19]);
  if (!fields[0] || !Number.isFinite(startTicks)) return null;
  return { state: fields[0], startTicks };
}

/** The process's stat, or null when it is gone (or this is not Linux). */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Wall-clock start of a process: boot-relative start ticks against /proc/uptime. */
export function processStartMs(pid: number): number | null {
  const stat = readProcStat(pid);
  if (stat === null) return null;
  try {
    const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    if (!Number.isFinite(uptimeS)) return null;
    // CLK_TCK is 100 on every Linux platform Node supports.
    return Date.now() - (uptimeS * 1000 - (stat.startTicks / 100) * 1000);
  } catch {
    return null;
  }
}
