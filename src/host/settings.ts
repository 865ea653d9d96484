// The extension's settings, read in one place (names match package.json contributes.configuration).
import * as vscode from 'vscode';
import type { Dtype } from '../protocol';

export interface Settings {
  model: string;
  dtype: Dtype;
  threads?: number;
  allowDownloads: boolean;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('refusalLens');
  const threads = c.get<number>('threads', 0);
  return {
    model: c.get<string>('model', '').trim(),
    dtype: c.get<Dtype>('dtype', 'fp32'),
    ...(threads > 0 ? { threads } : {}),
    allowDownloads: c.get<boolean>('allowDownloads', true),
  };
}
