// Which model the engine has loaded, and loading the configured one on demand. With no model
// configured, the built-in organism (a tiny model with a planted refusal circuit, written by the
// engine into global storage) stands in, so the whole flow works offline on first use.
import path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfo } from '../protocol';
import type { EngineClient } from './engineClient';
import { reportError, withEngineProgress, type Log } from './notify';
import { loadKey, readSettings } from './settings';
import type { EngineStatus } from './statusBar';

export const ORGANISM_LABEL = 'built-in organism';
const LAST_KEY = 'refusalLens.lastModel';
// Named by the organism's design version: a folder written by an older design is never reused.
const ORGANISM_DIR = 'organism-v2';

export class ModelManager {
  private info?: ModelInfo;
  /** The setting value `info` was loaded for ('' = the organism). */
  private loadedFor?: string;
  private readonly changed = new vscode.EventEmitter<ModelInfo | undefined>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly engine: EngineClient,
    private readonly state: vscode.Memento,
    private readonly storage: vscode.Uri,
    private readonly status: EngineStatus,
    private readonly log: Log,
  ) {
    this.showConfigured();
  }

  get current(): ModelInfo | undefined {
    return this.info;
  }

  /**
   * The loaded model, else the one last loaded for the configured setting (persisted), so views can
   * show that model's saved results after a window reload without loading it.
   */
  known(): ModelInfo | undefined {
    if (this.info) return this.info;
    const last = this.state.get<{ for: string; info: ModelInfo }>(LAST_KEY);
    return last && last.for === readSettings().model ? last.info : undefined;
  }

  /** A short name for titles and the status bar. */
  label(info = this.info): string {
    if (!info) return 'no model';
    return info.dir === vscode.Uri.joinPath(this.storage, ORGANISM_DIR).fsPath ? ORGANISM_LABEL : path.basename(info.model);
  }

  showConfigured(): void {
    const s = readSettings();
    const model = s.model;
    if (this.info && this.loadedFor === loadKey(s)) this.status.setModel(this.label());
    else this.status.setModel(`${model ? path.basename(model) : ORGANISM_LABEL} (not loaded)`);
  }

  /**
   * The loaded model, loading the configured one first if needed (also after an engine crash, whose
   * replacement process starts empty); undefined after a reported failure.
   */
  async ensureLoaded(): Promise<ModelInfo | undefined> {
    if (this.info && this.loadedFor === loadKey(readSettings()) && this.engine.hasModel) return this.info;
    return this.load();
  }

  async load(): Promise<ModelInfo | undefined> {
    const s = readSettings();
    try {
      const info = await withEngineProgress(`loading ${s.model || ORGANISM_LABEL}`, async (signal, report) => {
        let model = s.model;
        if (!model) {
          report('writing the built-in organism');
          model = (await this.engine.request('organism', { dir: vscode.Uri.joinPath(this.storage, ORGANISM_DIR).fsPath, seed: 1 }, { signal })).dir;
        }
        return this.engine.request(
          'load',
          { model, dtype: s.model ? s.dtype : 'fp32', cacheDir: this.storage.fsPath, threads: s.threads, provider: s.provider, allowRemote: s.allowDownloads, template: s.template },
          { signal, onProgress: (n) => report(n.message, n.fraction) },
        );
      });
      this.info = info;
      this.loadedFor = loadKey(s);
      await this.state.update(LAST_KEY, { for: s.model, info });
      this.status.setModel(this.label());
      this.log.info(`loaded ${info.model}: ${info.architecture}, ${info.layers} layers, hidden ${info.hiddenSize}, ${info.residualHooks} residual hooks (${info.residualOps.join(', ')}), ${info.layout} layout, on ${info.provider ?? 'cpu'}`);
      if (info.providerFallback) {
        this.log.warn(info.providerFallback);
        void vscode.window.showWarningMessage(vscode.l10n.t('Refusal Lens: {0}', info.providerFallback));
      }
      this.changed.fire(info);
      return info;
    } catch (e) {
      // A failed load keeps the previous model in the engine (it swaps only on success).
      this.status.setModel(this.label());
      await reportError(this.log, e, `loading ${s.model || ORGANISM_LABEL}`);
      return undefined;
    }
  }

  /** After an engine restart (which reloads the last model) the info stays valid. */
  restarted(info: ModelInfo | undefined): void {
    if (!info) this.info = undefined;
    this.status.setModel(this.label());
  }

  dispose(): void {
    this.changed.dispose();
  }
}
