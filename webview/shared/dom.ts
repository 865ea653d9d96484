// DOM helpers: every model-supplied string goes in through textContent, never as markup.

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
