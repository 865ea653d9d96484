// What every Refusal Lens webview shares: the page (strict CSP, nonce, asWebviewUri), validation of
// what the webview posts, and a replay of the current data whenever the webview (re)starts.
import * as vscode from 'vscode';
import { describeZodError, HostToWebview, WebviewToHost } from '../../protocol';
import type { Log } from '../notify';
import { webviewHtml } from '../webviewHtml';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')] };
}

/**
 * Binds one webview to its bundle `dist/webview/<bundle>.js` and styles `media/<bundle>.css`.
 * `snapshot()` is re-posted whenever the webview says it is ready (first load, or after it was
 * discarded while hidden), so a panel always shows the latest complete data.
 */
export class WebviewBinding implements vscode.Disposable {
  private ready = false;
  /** The last busy or error line, shown again after the snapshot when the webview (re)loads. */
  private status?: HostToWebview;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    bundle: string,
    title: string,
    private readonly log: Log,
    private readonly snapshot: () => HostToWebview | undefined,
    onMessage: (msg: WebviewToHost) => void,
  ) {
    const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
    webview.options = webviewOptions(extensionUri);
    webview.html = webviewHtml({ title, cspSource: webview.cspSource, scriptUri: uri('dist', 'webview', `${bundle}.js`), styleUris: [uri('media', 'common.css'), uri('media', `${bundle}.css`)] });
    this.disposables.push(
      webview.onDidReceiveMessage((raw) => {
        const parsed = WebviewToHost.safeParse(raw);
        if (!parsed.success) {
          this.log.error(`${title}: ignored a malformed message from the webview: ${describeZodError(parsed.error)}`);
          return;
        }
        if (parsed.data.type === 'ready') {
          this.ready = true;
          const data = this.snapshot();
          const status = this.status;
          if (data) this.post(data);
          if (status) this.post(status);
        }
        onMessage(parsed.data);
      }),
    );
  }

  /** Messages before the webview is ready are dropped: the snapshot on 'ready' (and the last status line) carry them. */
  post(msg: HostToWebview): void {
    this.status = msg.type === 'busy' || msg.type === 'error' ? msg : undefined;
    if (this.ready) void this.webview.postMessage(msg);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

export interface PanelSpec {
  viewType: string;
  title: string;
  bundle: string;
}

/**
 * A singleton editor-area panel (one Score panel, one Ablation Diff panel), revived by VS Code after
 * a window reload through a serializer; its webview restores its own saved state.
 */
export class SingletonPanel implements vscode.Disposable {
  private static readonly open = new Map<string, SingletonPanel>();
  readonly binding: WebviewBinding;

  static show(spec: PanelSpec, extensionUri: vscode.Uri, log: Log, snapshot: () => HostToWebview | undefined, onMessage: (msg: WebviewToHost) => void): SingletonPanel {
    const existing = SingletonPanel.open.get(spec.viewType);
    if (existing) {
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(spec.viewType, spec.title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(extensionUri));
    return new SingletonPanel(spec, panel, extensionUri, log, snapshot, onMessage);
  }

  static serializer(spec: PanelSpec, extensionUri: vscode.Uri, log: Log, snapshot: () => HostToWebview | undefined, onMessage: (msg: WebviewToHost) => void): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(spec.viewType, {
      deserializeWebviewPanel: async (panel) => {
        new SingletonPanel(spec, panel, extensionUri, log, snapshot, onMessage);
      },
    });
  }

  static get(viewType: string): SingletonPanel | undefined {
    return SingletonPanel.open.get(viewType);
  }

  private constructor(
    private readonly spec: PanelSpec,
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    log: Log,
    snapshot: () => HostToWebview | undefined,
    onMessage: (msg: WebviewToHost) => void,
  ) {
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    this.binding = new WebviewBinding(panel.webview, extensionUri, spec.bundle, spec.title, log, snapshot, onMessage);
    SingletonPanel.open.set(spec.viewType, this);
    panel.onDidDispose(() => this.dispose());
  }

  post(msg: HostToWebview): void {
    this.binding.post(msg);
  }

  dispose(): void {
    if (SingletonPanel.open.get(this.spec.viewType) === this) SingletonPanel.open.delete(this.spec.viewType);
    this.binding.dispose();
  }
}
