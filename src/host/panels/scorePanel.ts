// The Score panel: one editor-area webview showing the last scored prompt. Its state lives in the
// webview (setState), so hiding the panel or reloading the window restores it without recomputing.
import * as vscode from 'vscode';
import { HostToWebview, ScoreViewData, WebviewToHost } from '../../protocol';
import { webviewHtml } from '../webviewHtml';

export const SCORE_VIEW_TYPE = 'refusalLens.score';

export interface ScorePanelEvents {
  onRescore(): void;
  onRevealToken(index: number, data: ScoreViewData): void;
}

export class ScorePanel implements vscode.Disposable {
  private static current?: ScorePanel;
  private data?: ScoreViewData;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, events: ScorePanelEvents): ScorePanel {
    if (ScorePanel.current) {
      ScorePanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return ScorePanel.current;
    }
    const panel = vscode.window.createWebviewPanel(SCORE_VIEW_TYPE, 'Refusal Lens: Score', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, ScorePanel.options(extensionUri));
    return (ScorePanel.current = new ScorePanel(panel, extensionUri, events));
  }

  /** Restores a panel VS Code kept across a window reload; the webview brings its own saved state. */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, events: ScorePanelEvents): void {
    panel.webview.options = ScorePanel.options(extensionUri);
    ScorePanel.current = new ScorePanel(panel, extensionUri, events);
  }

  private static options(extensionUri: vscode.Uri): vscode.WebviewOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')] };
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly events: ScorePanelEvents,
  ) {
    const w = panel.webview;
    w.html = webviewHtml({
      title: 'Refusal Lens: Score',
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'score.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'score.css')).toString(),
    });
    this.disposables.push(
      w.onDidReceiveMessage((raw) => this.onMessage(raw)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private onMessage(raw: unknown): void {
    const parsed = WebviewToHost.safeParse(raw);
    if (!parsed.success) return;
    const msg = parsed.data;
    if (msg.type === 'ready') {
      this.ready = true;
      if (this.data) this.post({ type: 'score', data: this.data });
    } else if (msg.type === 'rescore') this.events.onRescore();
    else if (msg.type === 'revealToken' && this.data) this.events.onRevealToken(msg.index, this.data);
  }

  private post(msg: HostToWebview): void {
    void this.panel.webview.postMessage(msg);
  }

  setData(data: ScoreViewData): void {
    this.data = data;
    if (this.ready) this.post({ type: 'score', data });
  }

  status(type: 'busy' | 'error', message: string): void {
    this.post({ type, message });
  }

  dispose(): void {
    if (ScorePanel.current === this) ScorePanel.current = undefined;
    for (const d of this.disposables) d.dispose();
  }
}
