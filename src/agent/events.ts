import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The agent's two outputs: one JSON object per line per event in the events file (agentPaths().events),
 * for machines; and short human lines on stdout, which the supervisor sends to the agent's log.
 * Writing is synchronous (an append is microseconds) so an event is on disk before the next step runs and
 * a crash loses nothing; a failing write never stops the agent.
 */
export interface EventSink {
  emit(event: string, fields?: Record<string, unknown>): void;
  human(line: string): void;
}

export function fileEventSink(path: string, opts: { out?: (line: string) => void; clock?: () => Date } = {}): EventSink {
  const out = opts.out ?? ((l: string) => process.stdout.write(l));
  const clock = opts.clock ?? (() => new Date());
  let warned = false;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch {
    /* reported at the first write */
  }
  return {
    emit(event, fields = {}) {
      const line = JSON.stringify({ ts: clock().toISOString(), event, ...fields });
      try {
        appendFileSync(path, `${line}\n`);
      } catch (e) {
        if (!warned) out(`${clock().toISOString()} cannot write events to ${path}: ${(e as Error).message}; events go to this log instead\n`);
        warned = true;
        out(`${line}\n`);
      }
    },
    human(line) {
      out(`${clock().toISOString()} ${line}\n`);
    },
  };
}

/** For tests and for notify: events kept in memory. */
export function memoryEventSink(): EventSink & { events: Array<Record<string, unknown>>; lines: string[] } {
  const events: Array<Record<string, unknown>> = [];
  const lines: string[] = [];
  return {
    events,
    lines,
    emit: (event, fields = {}) => void events.push({ ts: new Date().toISOString(), event, ...fields }),
    human: (line) => void lines.push(line),
  };
}
