// Ablation Diff: greedy completions under baseline, directional ablation and activation addition,
// streamed into the panel token by token, with refusal verdicts, KL and (for prompt files) refusal
// rates per condition. The engine does the work; the host only relays and keeps the panel's data.
import path from 'node:path';
import * as vscode from 'vscode';
import type { PromptResult } from '../engine/directions/evaluate';
import { parsePromptRecords, promptSet } from '../engine/directions/prompts';
import { Condition, streamCondition, type DiffViewData, type HostToWebview, type WebviewToHost } from '../protocol';
import { requireDirection } from './directions';
import { reportError, withEngineProgress } from './notify';
import { SingletonPanel, type PanelSpec } from './panels/webview';
import type { Services } from './services';
import { activePrompt } from './prompts';
import { finishRow, finishRun, summarise } from './views';

export const DIFF_PANEL: PanelSpec = { viewType: 'refusalLens.ablationDiff', title: 'Refusal Lens: Ablation Diff', bundle: 'diff' };
const CONDITIONS = Condition.options;

interface Run {
  prompts: string[];
  /** One per prompt, from a prompt file's category column. */
  categories?: string[];
  source: string;
}

export class AblationFeature implements vscode.Disposable {
  private data?: DiffViewData;
  private last?: Run;
  private running?: AbortController;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly s: Services) {
    const { extensionUri, log } = s;
    this.disposables.push(
      vscode.commands.registerCommand('refusalLens.ablationDiff', () => this.fromEditor()),
      vscode.commands.registerCommand('refusalLens.ablationDiffFile', (uri?: vscode.Uri) => this.fromFile(uri)),
      SingletonPanel.serializer(DIFF_PANEL, extensionUri, log, () => this.snapshot(), (m) => this.onMessage(m)),
    );
  }

  private snapshot(): HostToWebview | undefined {
    return this.data && { type: 'diff', data: this.data };
  }

  private onMessage(msg: WebviewToHost): void {
    if (msg.type === 'cancel') this.running?.abort();
    else if (msg.type === 'capability') void this.capability();
    else if (msg.type === 'rerun' && this.last) void this.run(this.last, { coefficient: msg.coefficient, maxNewTokens: msg.maxNewTokens, conditions: msg.conditions });
  }

  private async fromEditor(): Promise<void> {
    const prompt = activePrompt('open a file and select a prompt, or run "Ablation Diff on Prompt File"');
    if (prompt) await this.run({ prompts: [prompt.text], source: `selection in ${path.basename(prompt.document.fileName)}` });
  }

  /** A prompt file (JSON, JSONL, CSV or text, one prompt per line): the given one, the active editor's, or one picked. */
  private async fromFile(uri?: vscode.Uri): Promise<void> {
    uri ??= vscode.window.activeTextEditor?.document.uri;
    if (!uri || uri.scheme === 'untitled') {
      uri = (await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Run Ablation Diff', filters: { Prompts: ['txt', 'json', 'jsonl', 'csv'] } }))?.[0];
    }
    if (!uri) return;
    let set;
    try {
      // The editor's text when the file is open (unsaved edits included), else the file on disk.
      const text = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString())?.getText() ?? new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      // Blank lines are not prompts; a file with none at all is refused with the file's name.
      set = promptSet(path.basename(uri.fsPath), parsePromptRecords(text, uri.fsPath));
    } catch (e) {
      await reportError(this.s.log, e, `reading prompts from ${path.basename(uri.fsPath)}`);
      return;
    }
    const { prompts, categories } = set;
    await this.run({ prompts, categories, source: `${path.basename(uri.fsPath)} (${prompts.length} prompts${categories ? `, ${new Set(categories).size} categories` : ''})` });
  }

  async run(run: Run, settings?: Pick<DiffViewData, 'coefficient' | 'maxNewTokens' | 'conditions'>): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    let active;
    try {
      active = await requireDirection(this.s.directions, info, this.s.models.label(), this.s.log);
    } catch (e) {
      await reportError(this.s.log, e, 'reading the active direction');
      return;
    }
    if (!active) return;
    this.running?.abort();
    const ctl = new AbortController();
    this.running = ctl;
    this.last = run;
    const config = vscode.workspace.getConfiguration('refusalLens.ablation');
    const s = settings ?? { coefficient: config.get<number>('coefficient', 1), maxNewTokens: config.get<number>('maxNewTokens', 64), conditions: CONDITIONS };
    const d = active.direction;
    const judgeModel = config.get<string>('judgeModel', '').trim();
    const data: DiffViewData = (this.data = {
      model: this.s.models.label(),
      direction: { name: d.name, layer: d.layer },
      source: run.source,
      ...s,
      rows: run.prompts.map((prompt, i) => ({ prompt, ...(run.categories ? { category: run.categories[i] } : {}), texts: {}, verdict: {}, kl: {}, done: false })),
      state: 'running',
      refusalRate: {},
      degenerateRate: {},
      meanKl: {},
      categories: [],
      ...(judgeModel ? { judge: { model: judgeModel, unsafeRate: {}, disagreementRate: {} } } : {}),
    });
    summarise(data);
    const panel = SingletonPanel.show(DIFF_PANEL, this.s.extensionUri, this.s.log, () => this.snapshot(), (m) => this.onMessage(m));
    panel.post({ type: 'diff', data });
    const post = (m: HostToWebview) => SingletonPanel.get(DIFF_PANEL.viewType)?.post(m);
    // Cancelled from the notification, the panel, or a newer run.
    let signal: AbortSignal | undefined;
    try {
      const r = await withEngineProgress(`ablation diff on ${run.source}`, (notification, report) => {
        signal = AbortSignal.any([notification, ctl.signal]);
        return this.s.engine.request(
          'evaluate',
          { prompts: run.prompts, direction: { vector: d.vector, layer: d.layer }, coefficient: s.coefficient, maxNewTokens: s.maxNewTokens, conditions: s.conditions, categories: run.categories, ...(judgeModel ? { judge: { model: judgeModel } } : {}) },
          {
            signal,
            onProgress: (n) => report(n.message, n.fraction),
            onToken: (n) => {
              const { prompt: row, condition } = streamCondition(n.index);
              const texts = data.rows[row]?.texts;
              if (!texts) return;
              texts[condition] = (texts[condition] ?? '') + n.text;
              post({ type: 'diffToken', row, condition, text: n.text });
            },
            onPartial: (n) => {
              const row = data.rows[n.index];
              if (!row) return;
              finishRow(row, n.value as PromptResult, s.conditions);
              summarise(data);
              post({ type: 'diff', data });
            },
          },
        );
      });
      data.state = 'done';
      finishRun(data, r);
      this.s.log.info(`ablation diff on ${run.source}: refusal rate ${s.conditions.map((c) => `${c} ${((r.refusal_rate[c] ?? NaN) * 100).toFixed(0)}%`).join(', ')}`);
    } catch (e) {
      data.state = signal?.aborted ? 'cancelled' : 'failed';
      await reportError(this.s.log, e, 'the ablation diff');
    } finally {
      if (this.running === ctl) this.running = undefined;
      post({ type: 'diff', data });
    }
  }

  /** Multiple-choice accuracy and perplexity (the built-in set) with and without the active direction, shown under the summary. */
  private async capability(): Promise<void> {
    const data = this.data;
    const info = await this.s.models.ensureLoaded();
    if (!data || !info) return;
    try {
      const active = await requireDirection(this.s.directions, info, this.s.models.label(), this.s.log);
      if (!active) return;
      const d = active.direction;
      const r = await withEngineProgress('capability check', (signal, report) =>
        this.s.engine.request('capability', { direction: { vector: d.vector, layer: d.layer } }, { signal, onProgress: (n) => report(n.message, n.fraction) }),
      );
      const per = (f: (c: (typeof r)[string]) => number) => Object.fromEntries(Object.entries(r).map(([k, c]) => [k, Number.isFinite(f(c)) ? f(c) : null]));
      data.capability = { items: r.baseline.picks.length, tokens: r.baseline.tokens, accuracy: per((c) => c.accuracy), perplexity: per((c) => c.perplexity) };
      SingletonPanel.get(DIFF_PANEL.viewType)?.post({ type: 'diff', data });
    } catch (e) {
      await reportError(this.s.log, e, 'the capability check');
    }
  }

  dispose(): void {
    this.running?.abort();
    for (const d of this.disposables) d.dispose();
  }
}

