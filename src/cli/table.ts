import Table from 'cli-table3';

export interface TableOptions {
  /** Per-column alignment; numbers read best right-aligned. */
  align?: Array<'left' | 'right' | 'center'>;
}

/**
 * A plain table for terminals and logs: no colours (output is often piped or captured by tests), light
 * borders, one line per row.
 */
export function renderTable(head: string[], rows: string[][], opts: TableOptions = {}): string {
  const t = new Table({
    head,
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
    ...(opts.align ? { colAligns: opts.align } : {}),
  });
  for (const r of rows) t.push(r);
  return t.toString();
}

/** 12345.6 -> "12,346"; keeps figures readable in a table. */
export function formatRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatPercent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}
