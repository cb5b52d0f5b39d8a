/** Formatting shared by the bench's tables: percentiles, fixed-point numbers, markdown tables. */

/** The value at `fraction` (0.5, 0.99) of `sorted` (ascending), nearest rank; NaN when empty. */
export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/**
 * A markdown table with columns padded to line up in a terminal too; the first `textColumns`
 * columns are left-aligned names, the rest right-aligned numbers.
 */
export function markdownTable(header: string[], lines: string[][], textColumns: number): string {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column < textColumns ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column < textColumns ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [format(header), rule, ...lines.map(format)].join('\n');
}

/** Times to first chunk of the successful requests, sorted for percentiles. */
export function sortedTtfc(results: Array<{ ok: boolean; ttfcMs?: number | undefined }>): number[] {
  return results.flatMap((result) => (result.ok && result.ttfcMs !== undefined ? [result.ttfcMs] : [])).sort((a, b) => a - b);
}
