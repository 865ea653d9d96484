// The Direction Explorer (a webview view in the activity bar): extracting directions from prompt
// sets, the candidate table, choosing the active direction, the safety residual space, and import /
// export of direction files and abliterated models. The engine computes; this relays and persists.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_HARMFUL, DEFAULT_HARMLESS } from '../engine/directions/defaultPrompts';
import type { ExtractResult } from '../engine/directions/extract';
import { extractionDoc, modelOf, readDirections } from '../engine/directions/file';
import { compareDirections } from '../engine/directions/geometry';
import { loadPromptSet, promptSet, splitTrainVal, type PromptSet } from '../engine/directions/prompts';
import type { SpaceResult } from '../engine/directions/space';
import type { ExplorerViewData, HostToWebview, ModelInfo, ProgressNote, SpaceLabelSource, WebviewToHost } from '../protocol';
import { reportError, withEngineProgress } from './notify';
import { SingletonPanel, WebviewBinding, type PanelSpec } from './panels/webview';
import type { Services } from './services';
import { candidateCosines, extractionView, interventionView, spaceView } from './views';

export const EXPLORER_VIEW = 'refusalLens.explorer';
type Which = 'harmful' | 'harmless';
/** Prompts of each set an intervention from the explorer runs on (it generates twice per prompt). */
const INTERVENE_PROMPTS = 32;

/** The explorer in the editor area, for more room than a side bar gives (the matrix, the candidate table). */
const EXPLORER_WIDE: PanelSpec = { viewType: 'refusalLens.explorerWide', title: 'Refusal Lens: Directions', bundle: 'explorer' };

export class ExplorerFeature implements vscode.WebviewViewProvider, vscode.Disposable {
  private binding?: WebviewBinding;
  private data: ExplorerViewData = { promptSets: { harmful: '', harmless: '' } };
  /** The last extraction's mean differences, for choosing another candidate (kept in memory only). */
  private extraction?: { info: ModelInfo; result: ExtractResult; sets: PromptSet[] };
  private readonly disposables: vscode.Disposable[] = [];
  private cancelTask?: () => void;
  private readonly taskChanged = new vscode.EventEmitter<ExplorerViewData['task']>();
  /** The running task's stage and progress (undefined when it ends), for other panels waiting on it. */
  readonly onTask = this.taskChanged.event;

  constructor(private readonly s: Services) {
    const { models, directions } = s;
    const command = (id: string, f: () => Promise<unknown>) => this.disposables.push(vscode.commands.registerCommand(id, f));
    command('refusalLens.extractDirection', () => this.extract());
    command('refusalLens.importDirection', () => this.importDirection());
    command('refusalLens.exportDirection', () => this.exportDirection());
    command('refusalLens.computeSpace', () => this.space());
    command('refusalLens.exportAbliterated', () => this.exportModel());
    command('refusalLens.openExplorerWide', async () => void SingletonPanel.show(EXPLORER_WIDE, s.extensionUri, s.log, () => this.snapshot(), (m) => this.onMessage(m)));
    this.disposables.push(
      vscode.window.registerWebviewViewProvider(EXPLORER_VIEW, this),
      models.onDidChange((info) => void this.refresh(info)),
      directions.onDidChange((info) => void this.refresh(info)),
      this.taskChanged,
      SingletonPanel.serializer(EXPLORER_WIDE, s.extensionUri, s.log, () => this.snapshot(), (m) => this.onMessage(m)),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.binding?.dispose();
    this.binding = new WebviewBinding(view.webview, this.s.extensionUri, 'explorer', 'Refusal Lens: Directions', this.s.log, () => this.snapshot(), (m) => this.onMessage(m));
    view.onDidDispose(() => {
      this.binding?.dispose();
      this.binding = undefined;
    });
    void this.refresh(this.s.models.known());
  }

  /** The view in the side bar and, when open, its wider copy in the editor area show the same data. */
  private post(): void {
    this.binding?.post(this.snapshot());
    SingletonPanel.get(EXPLORER_WIDE.viewType)?.post(this.snapshot());
  }

  private snapshot(): HostToWebview {
    return { type: 'explorer', data: this.data };
  }

  private update(patch: Partial<ExplorerViewData>): void {
    this.data = { ...this.data, ...patch };
    this.post();
    if ('task' in patch) this.taskChanged.fire(patch.task);
    const info = this.s.models.known();
    if (info && !('task' in patch && Object.keys(patch).length === 1)) void this.s.directions.saveExplorer(info, this.data);
  }

  /** Reloads what is persisted for the model (results, chosen prompt files) and its active direction. */
  private async refresh(info: ModelInfo | undefined): Promise<void> {
    if (!info) {
      this.data = { promptSets: { harmful: '', harmless: '' } };
      this.post();
      return;
    }
    const saved = this.s.directions.explorer(info);
    let active: ExplorerViewData['active'];
    try {
      const a = await this.s.directions.active(info);
      if (a) active = { name: a.direction.name, layer: a.direction.layer, position: a.direction.position, method: a.direction.method, file: a.file, ...(a.warning ? { warning: a.warning } : {}) };
    } catch (e) {
      this.s.log.warn(`the active direction for ${info.model} could not be read: ${(e as Error).message}`);
    }
    this.data = { promptSets: { harmful: '', harmless: '' }, ...saved, model: `${this.s.models.label(info)}${this.s.models.current ? '' : ' (not loaded)'}`, chat: info.chat, active, task: this.data.task };
    this.post();
  }

  private onMessage(msg: WebviewToHost): void {
    if (msg.type === 'extract') void this.extract();
    else if (msg.type === 'space') void this.space();
    else if (msg.type === 'intervene') void this.intervene(msg.layer, msg.component);
    else if (msg.type === 'import') void this.importDirection();
    else if (msg.type === 'export') void this.exportDirection();
    else if (msg.type === 'exportModel') void this.exportModel();
    else if (msg.type === 'pickPrompts') void this.pickPrompts(msg.which);
    else if (msg.type === 'useCandidate') void this.useCandidate(msg.layer, msg.position);
    else if (msg.type === 'compareFile') void this.compareFile();
    else if (msg.type === 'logitLens') void this.logitLens();
    else if (msg.type === 'scoreSkipped') void this.scoreSkipped();
    else if (msg.type === 'cancel') this.cancel();
  }

  /** The active direction and the model, or a warning that there is none yet. */
  private async activeDirection(what: string) {
    const info = await this.s.models.ensureLoaded();
    const active = info && (await this.s.directions.active(info));
    if (!active) void vscode.window.showWarningMessage(`Refusal Lens: extract or import a direction before ${what}.`);
    return active;
  }

  /** Cosines of the active direction file with another direction file of the same model shape. */
  async compareFile(): Promise<void> {
    try {
      const active = await this.activeDirection('comparing it with another');
      if (!active) return;
      const uri = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Compare With Active Direction', filters: { 'Direction files': ['json'] } });
      if (!uri?.[0]) return;
      const file = uri[0].fsPath;
      const c = compareDirections(await readDirections(active.file), await readDirections(file), active.file, file);
      this.s.log.info(`compared ${active.file} with ${file}: cosine ${c.selected.toFixed(4)}`);
      this.update({ geometry: { ...this.data.geometry, comparison: { file, model: c.b.model, selected: c.selected, other: { name: c.b.name, layer: c.b.layer }, layers: c.layers.map(({ layer, cosine }) => ({ layer, cosine })) } } });
    } catch (e) {
      await reportError(this.s.log, e, 'comparing direction files');
    }
  }

  /** The active direction's logit lens (top and bottom tokens of W_U (γ ⊙ r̂)). */
  async logitLens(): Promise<void> {
    try {
      const active = await this.activeDirection('its logit lens');
      if (!active) return;
      const lens = await withEngineProgress('logit lens', (signal) => this.s.engine.request('logitLens', { vector: active.direction.vector, k: 10 }, { signal }));
      const strip = (ts: { token: string; value: number }[]) => ts.map(({ token, value }) => ({ token, value }));
      this.update({ geometry: { ...this.data.geometry, lens: { direction: `${active.direction.name} (layer ${active.direction.layer})`, top: strip(lens.top), bottom: strip(lens.bottom), method: lens.method } } });
    } catch (e) {
      await reportError(this.s.log, e, 'computing the logit lens');
    }
  }

  /** Cancels the running task (extraction, space, export), if any. */
  cancel(): void {
    this.cancelTask?.();
  }

  /** The prompt set to use: the file the user picked, else the model folder's prompts/<which>_train.txt, else built in. */
  private async promptSet(info: ModelInfo, which: Which): Promise<PromptSet> {
    const picked = this.data.promptSets[which];
    if (picked) return loadPromptSet(picked);
    const beside = path.join(info.dir, 'prompts', `${which}_train.txt`);
    if (existsSync(beside)) return loadPromptSet(beside, `${path.basename(info.dir)}/prompts/${which}_train.txt`);
    return promptSet(`built-in ${which}`, which === 'harmful' ? DEFAULT_HARMFUL : DEFAULT_HARMLESS);
  }

  private async pickPrompts(which: Which): Promise<void> {
    const uri = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: `Use as ${which} prompts`, filters: { Prompts: ['txt', 'json', 'jsonl', 'csv'] } });
    if (!uri?.[0]) return;
    try {
      const set = await loadPromptSet(uri[0].fsPath);
      splitTrainVal(set); // too few prompts is refused now, not after an extraction started
      this.update({ promptSets: { ...this.data.promptSets, [which]: uri[0].fsPath } });
      void vscode.window.showInformationMessage(`Refusal Lens: ${set.prompts.length} ${which} prompts from ${path.basename(uri[0].fsPath)}.`);
    } catch (e) {
      await reportError(this.s.log, e, `reading ${uri[0].fsPath}`);
    }
  }

  /**
   * Runs engine work with a cancellable progress notification mirrored in the view; failures are
   * reported (undefined is returned) and the view's task line is always cleared.
   */
  private async runTask<T>(kind: NonNullable<ExplorerViewData['task']>['kind'], title: string, work: (signal: AbortSignal, onProgress: (n: ProgressNote) => void) => Promise<T>): Promise<T | undefined> {
    this.update({ task: { kind, message: `${title}…` } });
    // Cancellable from the notification and from the view's own Cancel button.
    const fromView = new AbortController();
    this.cancelTask = () => fromView.abort();
    try {
      return await withEngineProgress(title, (signal, report) =>
        work(AbortSignal.any([signal, fromView.signal]), (n) => {
          report(n.message, n.fraction);
          this.update({ task: { kind, message: n.message, fraction: n.fraction } });
        }),
      );
    } catch (e) {
      await reportError(this.s.log, e, title);
      return undefined;
    } finally {
      this.cancelTask = undefined;
      this.update({ task: undefined });
    }
  }

  async extract(): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    let sets: PromptSet[];
    try {
      sets = [await this.promptSet(info, 'harmful'), await this.promptSet(info, 'harmless')];
    } catch (e) {
      await reportError(this.s.log, e, 'reading the prompt sets');
      return;
    }
    const [harmful, harmless] = sets;
    const result = await this.runTask('extract', 'extracting the refusal direction', (signal, onProgress) =>
      this.s.engine.request('extract', { harmful: harmful.prompts, harmless: harmless.prompts }, { signal, onProgress }),
    );
    if (!result) return;
    this.extraction = { info, result, sets };
    this.s.log.info(`extracted from ${harmful.name} and ${harmless.name}: ${result.candidates.length} candidates, selected ${result.selected ? `layer ${result.selected.layer}, position ${result.selected.position}` : 'none'}`);
    this.update({ extraction: extractionView(result), geometry: { ...this.data.geometry, candidates: candidateCosines(result) } });
    if (!result.selected) {
      void vscode.window.showWarningMessage(`Refusal Lens: no direction was selected. ${result.report ?? ''}`, 'Show Log').then((c) => c && this.s.log.show());
      return;
    }
    try {
      await this.s.directions.setActive(info, extractionDoc(modelOf(info), result, sets));
      void vscode.window.showInformationMessage(`Refusal Lens: refusal direction from layer ${result.selected.layer}, position ${result.selected.position} is now active.`);
    } catch (e) {
      await reportError(this.s.log, e, 'saving the direction');
    }
  }

  private async useCandidate(layer: number, position: number): Promise<void> {
    const info = this.s.models.current;
    const ex = this.extraction;
    if (!info || !ex || ex.info !== info) {
      void vscode.window.showWarningMessage('Refusal Lens: the candidates\u2019 vectors are kept only for the session that extracted them; extract again to choose another candidate.', 'Extract').then((c) => c && this.extract());
      return;
    }
    const candidate = ex.result.candidates.find((c) => c.layer === layer && c.position === position);
    try {
      await this.s.directions.setActive(info, extractionDoc(modelOf(info), ex.result, ex.sets, candidate));
      this.update({ extraction: this.data.extraction && { ...this.data.extraction, selected: { layer, position } } });
    } catch (e) {
      await reportError(this.s.log, e, 'choosing the candidate');
    }
  }

  /** Computes the scores fast selection skipped, on the extraction's own validation prompts, and fills in the table. */
  private async scoreSkipped(): Promise<void> {
    const info = this.s.models.current;
    const ex = this.extraction;
    if (!info || !ex || ex.info !== info) {
      void vscode.window.showWarningMessage('Refusal Lens: the candidates\u2019 vectors are kept only for the session that extracted them; extract again to score them.', 'Extract').then((c) => c && this.extract());
      return;
    }
    const { result } = ex;
    const todo = result.candidates.filter((c) => c.skipped);
    if (!todo.length) return;
    const n = result.positions.length;
    const scored = await this.runTask('extract', `scoring ${todo.length} skipped candidates`, (signal, onProgress) =>
      this.s.engine.request(
        'scoreCandidates',
        {
          ...result.validation,
          refusalTokens: result.refusalTokens,
          candidates: todo.map((c) => ({ position: c.position, layer: c.layer, vector: Array.from(result.meanDiffs[c.position + n][c.layer]) })),
        },
        { signal, onProgress },
      ),
    );
    if (!scored) return;
    scored.forEach((s, i) => {
      delete todo[i].skipped;
      Object.assign(todo[i], s);
    });
    const selected = this.data.extraction?.selected;
    this.update({ extraction: { ...extractionView(result), ...(selected ? { selected } : {}) } });
  }

  async space(): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    let prompts: { harmful: PromptSet; harmless: PromptSet; jailbreak: string[] };
    try {
      const jailbreakFile = path.join(info.dir, 'prompts', 'jailbreak_test.txt');
      prompts = {
        harmful: await this.promptSet(info, 'harmful'),
        harmless: await this.promptSet(info, 'harmless'),
        jailbreak: existsSync(jailbreakFile) ? (await loadPromptSet(jailbreakFile)).prompts : [],
      };
    } catch (e) {
      await reportError(this.s.log, e, 'reading the prompt sets');
      return;
    }
    const { harmful, harmless, jailbreak } = prompts;
    const config = vscode.workspace.getConfiguration('refusalLens');
    const base = config.get<string>('baseModel', '').trim();
    const labels = config.get<SpaceLabelSource>('space.labels', 'aligned-score');
    const r: SpaceResult | undefined = await this.runTask('space', 'computing the safety residual space', (signal, onProgress) =>
      this.s.engine.request(
        'space',
        {
          prompts: [...harmful.prompts, ...harmless.prompts, ...jailbreak],
          ...(base ? { base } : { harmless: harmless.prompts }),
          labels,
          ...(jailbreak.length ? { interactionOn: jailbreak } : {}),
        },
        { signal, onProgress },
      ),
    );
    if (!r) return;
    try {
      await this.s.directions.saveSpace(info, r);
    } catch (e) {
      await reportError(this.s.log, e, 'saving the space components');
    }
    this.update({ space: spaceView(r) });
  }

  /**
   * Removes one component at the last token (Pan et al.'s intervention) on up to INTERVENE_PROMPTS
   * prompts of the harmful set and of the model folder's jailbreak set, and shows the refusal rates
   * without and with it, per set, in the space section.
   */
  async intervene(layer: number, component: number): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    const name = `C${component}@${layer}`;
    const c = (await this.s.directions.components(info, layer)).find((d) => d.name === name);
    if (!c) {
      void vscode.window.showErrorMessage(`Refusal Lens: no saved component ${name}; compute the residual space again.`);
      return;
    }
    let prompts: string[];
    let categories: string[];
    try {
      const harmful = await this.promptSet(info, 'harmful');
      const jailbreakFile = path.join(info.dir, 'prompts', 'jailbreak_test.txt');
      const jailbreak = existsSync(jailbreakFile) ? (await loadPromptSet(jailbreakFile)).prompts.slice(0, INTERVENE_PROMPTS) : [];
      const h = harmful.prompts.slice(0, INTERVENE_PROMPTS);
      prompts = [...h, ...jailbreak];
      categories = [...(harmful.categories?.slice(0, INTERVENE_PROMPTS) ?? h.map(() => 'harmful')), ...jailbreak.map(() => 'jailbreak')];
    } catch (e) {
      await reportError(this.s.log, e, 'reading the prompt sets');
      return;
    }
    const r = await this.runTask('intervene', `removing ${name} at the last token`, (signal, onProgress) =>
      this.s.engine.request('intervene', { prompts, categories, components: [c.vector] }, { signal, onProgress }),
    );
    if (!r || !this.data.space) return;
    this.s.log.info(`intervention ${name}: refusal ${(100 * r.refusal_rate.baseline).toFixed(0)}% → ${(100 * r.refusal_rate.intervened).toFixed(0)}% on ${prompts.length} prompts`);
    this.update({ space: { ...this.data.space, intervention: interventionView(r, layer, component) } });
  }

  async importDirection(): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    const uri = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Import Direction', filters: { 'Direction files': ['json'] } });
    if (!uri?.[0]) return;
    try {
      const a = await this.s.directions.importFile(info, uri[0].fsPath);
      if (a.warning) {
        this.s.log.warn(a.warning);
        void vscode.window.showWarningMessage(`Refusal Lens: ${a.warning}.`);
      }
      void vscode.window.showInformationMessage(`Refusal Lens: '${a.direction.name}' (layer ${a.direction.layer}) from ${path.basename(uri[0].fsPath)} is now active.`);
    } catch (e) {
      await reportError(this.s.log, e, `importing ${uri[0].fsPath}`);
    }
  }

  async exportDirection(): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    const uri = await vscode.window.showSaveDialog({ saveLabel: 'Export Direction', filters: { 'Direction files': ['json'] }, defaultUri: vscode.Uri.file(path.join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '', 'refusal-direction.json')) });
    if (!uri) return;
    try {
      await this.s.directions.exportTo(info, uri.fsPath);
      void vscode.window.showInformationMessage(`Refusal Lens: exported the active direction to ${uri.fsPath} (with its .f32 data file).`);
    } catch (e) {
      await reportError(this.s.log, e, 'exporting the direction');
    }
  }

  async exportModel(): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    let active;
    try {
      active = await this.s.directions.active(info);
    } catch (e) {
      await reportError(this.s.log, e, 'reading the active direction');
      return;
    }
    if (!active) {
      void vscode.window.showWarningMessage('Refusal Lens: extract or import a direction before exporting an abliterated model.');
      return;
    }
    const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Export Abliterated Model Here' });
    if (!uri?.[0]) return;
    const r = await this.runTask('export', 'exporting the abliterated model', (signal) => this.s.engine.request('export', { vectors: [active.direction.vector], out: uri[0].fsPath }, { signal }));
    if (r) void vscode.window.showInformationMessage(`Refusal Lens: abliterated model written to ${r.onnx}.`);
  }

  dispose(): void {
    this.binding?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
