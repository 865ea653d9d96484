// DOM helpers: every model-supplied string goes in through textContent, never as markup.
import { describeZodError, HostToWebview, type WebviewToHost } from '../../src/protocol';

type Tag<K extends string> = K extends keyof HTMLElementTagNameMap ? HTMLElementTagNameMap[K] : HTMLElement;

/** Also builds the toolkit's custom elements (vscode-dropdown, vscode-button, ...). */
export function el<K extends string>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): Tag<K> {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e as Tag<K>;
}

/** Makes invisible characters visible in token text (spaces, newlines, tabs, zero-width, bidi controls). */
export function visibleToken(t: string): string {
  return t
    .replace(/\n/g, '\u21b5')
    .replace(/\t/g, '\u2192')
    .replace(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => `\u27e8U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}\u27e9`)
    .replace(/^ /, '\u00b7');
}

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export const vscode: VsCodeApi = acquireVsCodeApi();

/**
 * Receives host messages, checked against the shared protocol; a malformed one is reported in the
 * panel and the console rather than dropped silently.
 */
export function onHostMessage(root: HTMLElement, handle: (msg: HostToWebview) => void): void {
  window.addEventListener('message', (event: MessageEvent) => {
    const parsed = HostToWebview.safeParse(event.data);
    if (!parsed.success) {
      const why = describeZodError(parsed.error);
      console.error(`Refusal Lens: ignored a malformed message from the extension: ${why}`);
      showStatus(root, 'error', `Ignored a malformed message from the extension (${why}).`);
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'busy') showStatus(root, 'busy', msg.message, msg);
    else if (msg.type === 'error') showStatus(root, 'error', msg.message);
    else handle(msg);
  });
}

/**
 * One status line at the top of the panel (busy or error), with a progress bar and a Cancel button
 * (posting `cancel`) when the host gives them; rendering new data removes it.
 */
export function showStatus(root: HTMLElement, type: 'busy' | 'error', message: string, work: { fraction?: number; cancellable?: boolean } = {}): void {
  root.querySelector('.status')?.remove();
  const status = el('div', { class: `status ${type}`, role: type === 'error' ? 'alert' : 'status' }, el('span', { class: 'message' }, message));
  if (work.fraction !== undefined) status.append(el('progress', { max: '1', value: String(work.fraction), 'aria-label': `${Math.round(work.fraction * 100)}% done` }));
  if (work.cancellable) {
    const cancel = el('vscode-button', { appearance: 'secondary', class: 'cancel' }, 'Cancel');
    cancel.addEventListener('click', () => vscode.postMessage({ type: 'cancel' } satisfies WebviewToHost));
    status.append(cancel);
  }
  root.prepend(status);
}

/**
 * A toolkit dropdown over option indices. The toolkit fires 'change' while it initialises too, so
 * `onPick` runs only for a real change to another index.
 */
export function indexDropdown(labels: string[], selected: number, attrs: Record<string, string>, onPick: (index: number) => void): HTMLElement {
  const dropdown = el('vscode-dropdown', attrs);
  labels.forEach((label, i) => {
    const o = el('vscode-option', { value: String(i) }, label);
    if (i === selected) o.setAttribute('selected', '');
    dropdown.append(o);
  });
  dropdown.addEventListener('change', () => {
    const picked = Number((dropdown as unknown as { value: string }).value);
    if (Number.isInteger(picked) && picked !== selected) onPick(picked);
  });
  return dropdown;
}
