// A text range (a scored prompt) followed through edits, in document offsets. No vscode import.

/**
 * Where the range [start, end) of a document is after one change that replaced [offset, offset +
 * length) with `inserted` characters (offsets as before the change), and whether the change touched
 * it. Typing at either end extends the range; a change before it shifts it.
 */
export function trackRange(range: [number, number], change: { offset: number; length: number; inserted: number }): { range: [number, number]; touched: boolean } {
  const [start, end] = range;
  const changeEnd = change.offset + change.length;
  const delta = change.inserted - change.length;
  if (changeEnd < start) return { range: [start + delta, end + delta], touched: false };
  if (change.offset > end) return { range, touched: false };
  return { range: [Math.min(start, change.offset), Math.max(end, changeEnd) + delta], touched: true };
}
