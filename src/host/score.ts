// Score Selection: the prompt's projections onto the active direction at every layer, the refusal
// metric, next-token probabilities and trigger tokens, shown in the Score panel; the same trigger
// tokens are highlighted in the editor (with hovers) until the text is edited.
import * as vscode from 'vscode';
import type { ScoreResult } from '../engine/directions/score';
import type { HostToWebview, ScoreViewData, WebviewToHost } from '../protocol';
import { requireDirection } from './directions';
import { reportError, withEngineProgress } from './notify';
import { SingletonPanel, type PanelSpec } from './panels/webview';
import type { Services } from './services';
import { activePrompt, type EditorPrompt } from './prompts';
import { scoreView } from './views';

export const SCORE_PANEL: PanelSpec = { viewType: 'refusalLens.score', title: 'Refusal Lens: Score', bundle: 'score' };

/** How many trigger tokens the editor highlights, and the share of the top attribution they need. */
const HIGHLIGHTS = 3;
const MIN_SHARE = 0.1;

interface Scored {
  uri: vscode.Uri;
  version: number;
  /** Document offset of the prompt's first character. */
  offset: number;
  spans: ScoreResult['spans'];
  prompt: EditorPrompt;
}

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
  private readonly disposables: vscode.Disposable[] = [this.decoration];

  constructor(private readonly s: Services) {
    const { extensionUri, log } = s;
    this.disposables.push(
      vscode.commands.registerCommand('refusalLens.scoreSelection', () => this.scoreEditor()),
      SingletonPanel.serializer(SCORE_PANEL, extensionUri, log, () => this.snapshot(), (m) => this.onMessage(m)),
      // Offsets are stale after any edit: the highlights go, and the panel keeps its (dated) result.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.scored && e.document.uri.toString() === this.scored.uri.toString() && e.contentChanges.length) this.clearHighlights();
      }),
      vscode.window.onDidChangeVisibleTextEditors(() => this.applyHighlights()),
    );
  }

  private snapshot(): HostToWebview | undefined {
    return this.data && { type: 'score', data: this.data };
  }

  private panel(): SingletonPanel {
    return SingletonPanel.show(SCORE_PANEL, this.s.extensionUri, this.s.log, () => this.snapshot(), (m) => this.onMessage(m));
  }

  private onMessage(msg: WebviewToHost): void {
    if (msg.type === 'rescore' && this.scored) void this.score(this.scored.prompt);
    else if (msg.type === 'revealToken') void this.reveal(msg.index);
  }

  async scoreEditor(): Promise<void> {
    const prompt = activePrompt('open a file and select a prompt to score');
    if (prompt) await this.score(prompt);
  }

  async score(prompt: EditorPrompt): Promise<void> {
    const info = await this.s.models.ensureLoaded();
    if (!info) return;
    try {
      const active = await requireDirection(this.s.directions, info, this.s.models.label(), this.s.log);
      if (!active) return;
      const d = active.direction;
      const components = await this.s.directions.components(info, d.layer);
      this.s.log.info(`scoring ${prompt.text.length} characters against '${d.name}' (layer ${d.layer}${components.length ? `, ${components.length} space components` : ''})`);
      const panel = this.panel();
      panel.post({ type: 'busy', message: `Scoring ${prompt.text.length} characters…` });
      const r = await withEngineProgress('scoring the prompt', (signal) =>
        this.s.engine.request('score', { prompt: prompt.text, direction: { vector: d.vector, layer: d.layer }, components }, { signal }),
      );
      this.data = scoreView(prompt.text, r, { name: d.name, layer: d.layer }, this.s.models.label());
      this.scored = { uri: prompt.document.uri, version: prompt.document.version, offset: prompt.document.offsetAt(prompt.range.start), spans: r.spans, prompt };
      this.highlights = this.triggerHighlights(prompt.document, r, d.name, d.layer);
      this.applyHighlights();
      panel.post({ type: 'score', data: this.data });
      this.s.log.info(`scored ${JSON.stringify(prompt.text.slice(0, 60))}: refusal metric ${r.refusalScore.toFixed(3)}, top trigger ${r.triggers[0]?.token ?? 'none'}`);
    } catch (e) {
      SingletonPanel.get(SCORE_PANEL.viewType)?.post({ type: 'error', message: (e as Error).message });
      await reportError(this.s.log, e, 'scoring');
    }
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
