// Score Selection: the prompt's projections onto the active direction at every layer, the refusal
// metric, next-token probabilities and trigger tokens, shown in the Score panel; the same trigger
// tokens are highlighted in the editor (with hovers) until the text is edited. Edits to the scored
// prompt rescore it after a pause (refusalLens.score.live): its range is tracked through edits, and
// the latest-only scheduler keeps one engine request at a time whatever the typing rate.
import * as vscode from 'vscode';
import type { NamedDirection, ScoreResult } from '../engine/directions/score';
import type { ExplorerViewData, HostToWebview, ScoreViewData, WebviewToHost } from '../protocol';
import { requireDirection } from './directions';
import { Latest } from './latest';
import { reportError, withEngineProgress } from './notify';
import { SingletonPanel, type PanelSpec } from './panels/webview';
import type { Services } from './services';
import { activePrompt, type EditorPrompt } from './prompts';
import { headsView, scoreView } from './views';
import { trackRange } from './trackRange';

export const SCORE_PANEL: PanelSpec = { viewType: 'refusalLens.score', title: 'Refusal Lens: Score', bundle: 'score' };

/** How many trigger tokens the editor highlights, and the share of the top attribution they need. */
const HIGHLIGHTS = 3;
const MIN_SHARE = 0.1;
/** Quiet time after the last keystroke before the edited prompt is scored again. */
const LIVE_DELAY_MS = 400;

interface Scored {
  uri: vscode.Uri;
  version: number;
  /** Document offset of the prompt's first character. */
  offset: number;
  spans: ScoreResult['spans'];
  prompt: EditorPrompt;
}

/** What an explicit score used (the direction and the space components): live rescoring reuses it. */
interface ScoreContext {
  direction: { name: string; vector: number[]; layer: number };
  components: NamedDirection[];
}

/** Long work another feature runs for Score (the explorer's extraction): its stage and progress, and a way to cancel it. */
export interface TaskSource {
  onTask: vscode.Event<ExplorerViewData['task']>;
  cancel(): void;
}

/** A prompt to rescore, with the document version its text was read at. */
type LivePrompt = EditorPrompt & { version: number; context: ScoreContext };

export class ScoreFeature implements vscode.Disposable {
  private data?: ScoreViewData;
  private scored?: Scored;
  private highlights: vscode.DecorationOptions[] = [];
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('refusalLens.triggerBackground'),
    border: '1px solid',
    borderColor: new vscode.ThemeColor('refusalLens.triggerBorder'),
    borderRadius: '2px',
    overviewRulerColor: new vscode.ThemeColor('refusalLens.triggerBorder'),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
  });
  /** What the shown result was scored with: the Heads view attributes the same prompt to the same direction. */
  private shownContext?: ScoreContext;
  /** The last scored prompt's place in its document, kept through edits, with what scored it. */
  private tracked?: { uri: string; start: number; end: number; context: ScoreContext };
  private readonly live = new Latest<LivePrompt, ScoreResult>({
    delayMs: LIVE_DELAY_MS,
    run: async (p, signal) => {
      // Not a model load per keystroke: after a crash, the next explicit command reloads it.
      if (!this.s.engine.hasModel) throw new Error('the engine stopped, so its model is gone: run Score Selection (or Restart Engine) to score again');
      this.s.log.info(`live rescoring ${p.text.length} characters against '${p.context.direction.name}'`);
      SingletonPanel.get(SCORE_PANEL.viewType)?.post({ type: 'busy', message: `Rescoring ${p.text.length} characters…` });
      return this.request(p.text, p.context, signal);
    },
    deliver: (r, p) => this.show(p, r, p.context, p.version),
    // Not a notification per keystroke: the panel says what went wrong, the log has the detail.
    fail: (e) => {
      SingletonPanel.get(SCORE_PANEL.viewType)?.post({ type: 'error', message: (e as Error).message });
      this.s.log.error(`live rescoring: ${(e as Error).message}`);
    },
  });
  private readonly disposables: vscode.Disposable[] = [this.decoration, { dispose: () => this.live.cancel() }];

  constructor(
    private readonly s: Services,
    private readonly tasks: TaskSource,
  ) {
    const { extensionUri, log } = s;
    this.disposables.push(
      vscode.commands.registerCommand('refusalLens.scoreSelection', () => this.scoreEditor()),
      vscode.commands.registerCommand('refusalLens.compareSuffix', () => this.compareSuffix()),
      SingletonPanel.serializer(SCORE_PANEL, extensionUri, log, () => this.snapshot(), (m) => this.onMessage(m)),
      vscode.workspace.onDidChangeTextDocument((e) => this.onEdit(e)),
      // A model switch makes the tracked prompt's direction meaningless for the new model.
      s.models.onDidChange(() => this.stopLive()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.applyHighlights()),
    );
  }

  private snapshot(): HostToWebview | undefined {
    return this.data && { type: 'score', data: this.data };
  }

  private panel(): SingletonPanel {
    return SingletonPanel.show(SCORE_PANEL, this.s.extensionUri, this.s.log, () => this.snapshot(), (m) => this.onMessage(m));
  }

  /**
   * Offsets are stale after any edit: the highlights go, and the panel keeps its (dated) result
   * until an edit inside the scored prompt has it scored again.
   */
  private onEdit(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    if (!e.contentChanges.length) return;
    if (this.scored && uri === this.scored.uri.toString()) this.clearHighlights();
    const t = this.tracked;
    if (!t || uri !== t.uri) return;
    let range: [number, number] = [t.start, t.end];
    let touched = false;
    // Offsets of one event's changes refer to the document before it: applied from the last one back.
    for (const c of [...e.contentChanges].sort((a, b) => b.rangeOffset - a.rangeOffset)) {
      const next = trackRange(range, { offset: c.rangeOffset, length: c.rangeLength, inserted: c.text.length });
      range = next.range;
      touched ||= next.touched;
    }
    [t.start, t.end] = range;
    if (!touched || !vscode.workspace.getConfiguration('refusalLens.score').get<boolean>('live', true)) return;
    const prompt = this.trackedPrompt(e.document);
    if (prompt.text.trim()) this.live.push({ ...prompt, version: e.document.version, context: t.context });
    else this.live.cancel();
  }

  private trackedPrompt(document: vscode.TextDocument): EditorPrompt {
    const range = new vscode.Range(document.positionAt(this.tracked!.start), document.positionAt(this.tracked!.end));
    return { text: document.getText(range), range, document };
  }

  private stopLive(): void {
    this.live.cancel();
    this.tracked = undefined;
  }

  private onMessage(msg: WebviewToHost): void {
    if (msg.type === 'rescore' && this.scored) void this.score(this.tracked ? this.trackedPrompt(this.scored.prompt.document) : this.scored.prompt);
    else if (msg.type === 'revealToken') void this.reveal(msg.index);
    else if (msg.type === 'heads') void this.attributeHeads();
    else if (msg.type === 'cancel') this.tasks.cancel();
  }

  async scoreEditor(): Promise<void> {
    const prompt = activePrompt('open a file and select a prompt to score');
    if (prompt) await this.score(prompt);
  }

  async score(prompt: EditorPrompt): Promise<void> {
    this.live.cancel();
    // The panel opens at once and says what is happening: loading a real model, or extracting its
    // direction, takes minutes.
    const panel = this.panel();
    panel.post({ type: 'busy', message: this.s.models.current ? 'Preparing…' : `Loading ${this.s.models.label()}…` });
    const info = await this.s.models.ensureLoaded();
    if (!info) {
      panel.post({ type: 'error', message: 'The model could not be loaded (see the notification).' });
      return;
    }
    const extraction = this.tasks.onTask((t) => {
      if (t?.kind === 'extract') panel.post({ type: 'busy', message: `Extracting the refusal direction: ${t.message}`, fraction: t.fraction, cancellable: true });
    });
    try {
      panel.post({ type: 'busy', message: 'Looking for a refusal direction…' });
      const active = await requireDirection(this.s.directions, info, this.s.models.label(), this.s.log).finally(() => extraction.dispose());
      if (!active) {
        panel.post({ type: 'error', message: 'No refusal direction yet: extract or import one (Refusal Lens view), then score again.' });
        return;
      }
      const d = active.direction;
      const components = await this.s.directions.components(info, d.layer);
      this.s.log.info(`scoring ${prompt.text.length} characters against '${d.name}' (layer ${d.layer}${components.length ? `, ${components.length} space components` : ''})`);
      panel.post({ type: 'busy', message: `Scoring ${prompt.text.length} characters…` });
      const doc = prompt.document;
      const version = doc.version;
      const context = { direction: { name: d.name, vector: d.vector, layer: d.layer }, components };
      // Tracked from now on, so edits made while it is scored are followed (and rescore it).
      this.tracked = { uri: doc.uri.toString(), start: doc.offsetAt(prompt.range.start), end: doc.offsetAt(prompt.range.end), context };
      const r = await withEngineProgress('scoring the prompt', (signal) => this.request(prompt.text, context, signal));
      this.show(prompt, r, context, version);
    } catch (e) {
      SingletonPanel.get(SCORE_PANEL.viewType)?.post({ type: 'error', message: (e as Error).message });
      await reportError(this.s.log, e, 'scoring');
    }
  }

  /** The Heads view of the shown result: every head's contribution to its direction and attention. */
  private async attributeHeads(): Promise<void> {
    const [data, context] = [this.data, this.shownContext];
    if (!data || !context) return;
    const panel = SingletonPanel.get(SCORE_PANEL.viewType);
    panel?.post({ type: 'busy', message: 'Attributing the projection to every attention head…' });
    try {
      const { vector, layer } = context.direction;
      const r = await withEngineProgress('attributing to attention heads', (signal) => this.s.engine.request('heads', { prompt: data.prompt, direction: { vector, layer } }, { signal }));
      // A newer score replaced the prompt meanwhile: its own Heads view is asked for separately.
      if (this.data !== data) return;
      this.data = { ...data, heads: headsView(data.prompt, r) };
      panel?.post({ type: 'score', data: this.data });
    } catch (e) {
      panel?.post({ type: 'error', message: (e as Error).message });
      await reportError(this.s.log, e, 'attributing to heads');
    }
  }

  /**
   * Command palette: the prompt with a suffix against the same prompt without it (Arditi et al.
   * §5), side by side in the Score panel's Heads view, under the score of the prompt with the suffix.
   */
  async compareSuffix(): Promise<void> {
    const prompt = activePrompt('open a file and select a prompt to compare with a suffix');
    if (!prompt) return;
    const suffix = await askSuffix(prompt.text);
    if (!suffix) return;
    const panel = this.panel();
    panel.post({ type: 'busy', message: this.s.models.current ? 'Preparing…' : `Loading ${this.s.models.label()}…` });
    const info = await this.s.models.ensureLoaded();
    const active = info && (await requireDirection(this.s.directions, info, this.s.models.label(), this.s.log));
    if (!active) {
      panel.post({ type: 'error', message: 'No model or refusal direction yet: load a model and extract or import a direction, then compare again.' });
      return;
    }
    this.stopLive();
    this.clearHighlights();
    const d = active.direction;
    const context: ScoreContext = { direction: { name: d.name, vector: d.vector, layer: d.layer }, components: [] };
    const text = `${prompt.text.trimEnd()} ${suffix}`;
    try {
      panel.post({ type: 'busy', message: `Comparing the prompt with and without '${suffix}'…` });
      const [score, heads] = await withEngineProgress('comparing the suffix', async (signal) => [
        await this.request(text, context, signal),
        await this.s.engine.request('heads', { prompt: prompt.text, direction: { vector: d.vector, layer: d.layer }, suffix, baseline: '' }, { signal }),
      ] as const);
      // The suffixed text is not in the editor: no highlights, no live rescoring, no token reveal.
      this.scored = undefined;
      this.shownContext = context;
      this.data = { ...scoreView(text, score, { name: d.name, layer: d.layer }, this.s.models.label()), heads: headsView(prompt.text, heads) };
      panel.post({ type: 'score', data: this.data });
      this.s.log.info(`suffix comparison of ${JSON.stringify(prompt.text.slice(0, 60))} with '${suffix}': top head L${heads.suffix!.top[0]?.layer}H${heads.suffix!.top[0]?.head} changes by ${heads.suffix!.top[0]?.change.toFixed(3)}`);
    } catch (e) {
      panel.post({ type: 'error', message: (e as Error).message });
      await reportError(this.s.log, e, 'comparing the suffix');
    }
  }

  private request(text: string, { direction: { vector, layer }, components }: ScoreContext, signal: AbortSignal): Promise<ScoreResult> {
    return this.s.engine.request('score', { prompt: text, direction: { vector, layer }, components }, { signal });
  }

  /**
   * Shows the result for `prompt` as read at document `version` in the panel and the editor (the
   * highlights only while the document is still at that version).
   */
  private show(prompt: EditorPrompt, r: ScoreResult, context: ScoreContext, version: number): void {
    const d = context.direction;
    this.data = scoreView(prompt.text, r, { name: d.name, layer: d.layer }, this.s.models.label());
    this.shownContext = context;
    this.scored = { uri: prompt.document.uri, version, offset: prompt.document.offsetAt(prompt.range.start), spans: r.spans, prompt };
    this.highlights = this.triggerHighlights(prompt.document, r, d.name, d.layer);
    this.applyHighlights();
    // A closed panel is not reopened by live rescoring; it shows the latest data when opened.
    SingletonPanel.get(SCORE_PANEL.viewType)?.post({ type: 'score', data: this.data });
    this.s.log.info(`scored ${JSON.stringify(prompt.text.slice(0, 60))}: refusal metric ${r.refusalScore.toFixed(3)}, top trigger ${r.triggers[0]?.token ?? 'none'}`);
  }

  private triggerHighlights(doc: vscode.TextDocument, r: ScoreResult, name: string, layer: number): vscode.DecorationOptions[] {
    const top = r.triggers[0]?.attribution ?? 0;
    if (!(top > 0)) return [];
    return r.triggers
      .filter((t) => t.attribution > 0 && t.attribution >= MIN_SHARE * top && r.spans[t.index])
      .slice(0, HIGHLIGHTS)
      .map((t, rank) => {
        const [from, to] = r.spans[t.index]!;
        // Token and direction name come from the model and from files: appended as text, never as
        // Markdown (no links, images or HTML from them in the hover).
        const hover = new vscode.MarkdownString()
          .appendMarkdown(`**Refusal Lens trigger #${rank + 1}**: removing `)
          .appendText(`"${t.token}"`)
          .appendMarkdown(" lowers the last token's projection onto ")
          .appendText(name)
          .appendMarkdown(` at layer ${layer} by **${t.attribution.toFixed(3)}** (occlusion). Refusal metric of the prompt: ${r.refusalScore.toFixed(3)}.`);
        return { range: new vscode.Range(doc.positionAt(this.scored!.offset + from), doc.positionAt(this.scored!.offset + to)), hoverMessage: hover };
      });
  }

  private applyHighlights(): void {
    if (!this.scored) return;
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() !== this.scored.uri.toString()) continue;
      editor.setDecorations(this.decoration, editor.document.version === this.scored.version ? this.highlights : []);
    }
  }

  private clearHighlights(): void {
    this.highlights = [];
    this.applyHighlights();
  }

  private async reveal(index: number): Promise<void> {
    const s = this.scored;
    const span = s?.spans[index];
    if (!s || !span) {
      void vscode.window.showInformationMessage(`Refusal Lens: token ${index} is part of the chat template (or could not be placed in the text), so it has no place in the editor.`);
      return;
    }
    const doc = await vscode.workspace.openTextDocument(s.uri);
    if (doc.version !== s.version) {
      void vscode.window.showInformationMessage('Refusal Lens: the text changed since it was scored; score it again to locate tokens.');
      return;
    }
    const editor = await vscode.window.showTextDocument(doc, { preserveFocus: false, viewColumn: vscode.ViewColumn.One });
    const range = new vscode.Range(doc.positionAt(s.offset + span[0]), doc.positionAt(s.offset + span[1]));
    editor.selection = new vscode.Selection(range.start, range.end);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** Asks for the suffix to compare (an adversarial suffix, e.g. one found by GCG). */
export async function askSuffix(prompt: string): Promise<string | undefined> {
  const suffix = await vscode.window.showInputBox({
    title: 'Refusal Lens: Compare Suffix',
    prompt: `Suffix to append to "${prompt.length > 60 ? `${prompt.slice(0, 57)}…` : prompt}" (compared with the prompt without it)`,
    placeHolder: 'e.g. an adversarial suffix',
    validateInput: (v) => (v.trim() ? undefined : 'enter a suffix'),
  });
  return suffix?.trim() || undefined;
}
