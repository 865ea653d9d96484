// Python's strftime for the dates chat templates print (strftime_now), on a fixed UTC day, so a
// rendering depends on the date it is pinned to, not on the clock or the machine's locale.
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** `format` for the UTC midnight of `date` (YYYY-MM-DD); the codes chat templates use. */
export function strftime(date: string, format: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = MONTHS[d.getUTCMonth()];
  const day = DAYS[d.getUTCDay()];
  const codes: Record<string, string> = {
    Y: String(d.getUTCFullYear()),
    y: pad(d.getUTCFullYear() % 100),
    m: pad(d.getUTCMonth() + 1),
    d: pad(d.getUTCDate()),
    B: month,
    b: month.slice(0, 3),
    A: day,
    a: day.slice(0, 3),
    H: '00',
    M: '00',
    S: '00',
    '%': '%',
  };
  return format.replace(/%(.)/g, (all, c: string) => codes[c] ?? all);
}

export const todayUtc = () => new Date().toISOString().slice(0, 10);

