// Diverging colour scale for projections: zero is neutral (transparent), positive values (towards
// refusal) tint with the theme's red, negative with its blue; strength is |value| / bound.

export interface Bounds {
  /** Largest |value| that maps to full colour. */
  max: number;
}

export function boundsOf(values: number[]): Bounds {
  let max = 0;
  for (const v of values) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
  return { max: max || 1 };
}

/** Fraction of full colour for a value, in [0, 1]. */
export function strength(value: number, b: Bounds): number {
  return Number.isFinite(value) ? Math.min(1, Math.abs(value) / b.max) : 0;
}

/** A CSS colour: the theme colour mixed with transparency (CSS variables keep it themeable). */
export function colour(value: number, b: Bounds): string {
  const pct = Math.round(strength(value, b) * 85);
  if (pct === 0) return 'transparent';
  const hue = value > 0 ? 'var(--vscode-charts-red, #f14c4c)' : 'var(--vscode-charts-blue, #3794ff)';
  return `color-mix(in srgb, ${hue} ${pct}%, transparent)`;
}

export function formatNumber(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return 'n/a';
  const s = x.toFixed(digits);
  // A small negative value rounds to "-0.0"; zero has no sign.
  return Number(s) === 0 ? (0).toFixed(digits) : s;
}
