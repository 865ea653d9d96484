// The extension's settings, read in one place (names match package.json contributes.configuration).
import * as vscode from 'vscode';
import { type Dtype, type Provider, PROXY_STRICT_SSL_ENV, TemplateOptions } from '../protocol';

export interface Settings {
  model: string;
  dtype: Dtype;
  threads?: number;
  provider: Provider;
  allowDownloads: boolean;
  template: TemplateOptions;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('refusalLens');
  const threads = c.get<number>('threads', 0);
  return {
    model: c.get<string>('model', '').trim(),
    dtype: c.get<Dtype>('dtype', 'fp32'),
    ...(threads > 0 ? { threads } : {}),
    provider: c.get<Provider>('executionProvider', 'cpu'),
    allowDownloads: c.get<boolean>('allowDownloads', true),
    template: templateSettings(c),
  };
}

/** refusalLens.template.*: systemPrompt 'none' | 'default' | the text; an invalid date is left to the engine to report. */
function templateSettings(c: vscode.WorkspaceConfiguration): TemplateOptions {
  const system = c.get<string>('template.systemPrompt', 'none');
  const date = c.get<string>('template.date', '').trim();
  return {
    ...(system === 'none' || system === 'default' ? { system } : { system: 'custom', systemPrompt: system }),
    enableThinking: c.get<boolean>('template.enableThinking', false),
    ...(date ? { date } : {}),
  };
}

/** What a loaded model depends on: a change of any of it needs a new load. */
export const loadKey = (s: Settings) => `${s.model}\n${s.provider}\n${JSON.stringify(s.template)}`;

/**
 * VS Code's proxy settings as the environment variables the engine's downloads read (the engine is a
 * separate process, so VS Code's own proxy support does not reach it).
 */
export function proxyEnv(): NodeJS.ProcessEnv {
  const http = vscode.workspace.getConfiguration('http');
  const proxy = http.get<string>('proxy', '').trim();
  const noProxy = http.get<string[]>('noProxy', []);
  return {
    ...(proxy ? { HTTPS_PROXY: proxy, HTTP_PROXY: proxy } : {}),
    ...(noProxy.length ? { NO_PROXY: noProxy.join(',') } : {}),
    ...(http.get<boolean>('proxyStrictSSL', true) ? {} : { [PROXY_STRICT_SSL_ENV]: 'false' }),
  };
}

/** The engine watchdog's limit (ms) from `refusalLens.engine.timeoutSeconds`; 0 turns it off. */
export function engineTimeoutMs(): number {
  const s = vscode.workspace.getConfiguration('refusalLens.engine').get<number>('timeoutSeconds', 300);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 0;
}
