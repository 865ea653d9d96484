// Extension entry: owns the engine client, the log channel and the status bar, and registers the
// model-management commands. Every model result comes from the engine process.
import path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfo } from '../protocol';
import { EngineClient, EngineRequestError } from './engineClient';
import { proxyEnv, readSettings } from './settings';
import { EngineStatus } from './statusBar';

const RECENT_KEY = 'refusalLens.recentModels';
let running: EngineClient | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Refusal Lens', { log: true });
  const status = new EngineStatus();
  const engine = new EngineClient({
    enginePath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'engine.js').fsPath,
    env: proxyEnv,
    log: (level, message) => log[level](message),
  });
  running = engine;
  context.subscriptions.push(log, status, { dispose: () => void engine.dispose() });

  // The status bar names the configured model until a load says otherwise.
  const showConfiguredModel = () => {
    const { model } = readSettings();
    status.setModel(model ? `${path.basename(model)} (not loaded)` : 'no model');
  };
  showConfiguredModel();
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['refusalLens.model', 'refusalLens.dtype', 'refusalLens.threads'].some((k) => e.affectsConfiguration(k))) showConfiguredModel();
    }),
  );
  engine.onState((state) => {
    status.setState(state);
    if (state === 'crashed') void offerRestart();
  });

  async function offerRestart(): Promise<void> {
    const choice = await vscode.window.showErrorMessage('The Refusal Lens engine stopped unexpectedly.', 'Restart Engine', 'Show Log');
    if (choice === 'Restart Engine') await vscode.commands.executeCommand('refusalLens.restartEngine');
    if (choice === 'Show Log') log.show();
  }

  /** Explains an engine failure with a way forward, never silently. */
  async function report(e: unknown, what: string): Promise<void> {
    const err = e instanceof EngineRequestError ? e : new EngineRequestError('INTERNAL', String((e as Error)?.message ?? e));
    if (err.code === 'CANCELLED') return;
    log.error(`${what}: [${err.code}] ${err.message}${err.detail ? `\n${err.detail}` : ''}`);
    // A crash already has its own notification with a Restart button.
    if (err.code === 'ENGINE_CRASHED') return;
    const actions = err.code === 'MODEL_INVALID' || err.code === 'NOT_FOUND' || err.code === 'OFFLINE' ? ['Select Model', 'Show Log'] : ['Show Log'];
    const choice = await vscode.window.showErrorMessage(`Refusal Lens: ${what} failed: ${err.message}`, ...actions);
    if (choice === 'Select Model') await vscode.commands.executeCommand('refusalLens.selectModel');
    if (choice === 'Show Log') log.show();
  }

  async function loadModel(): Promise<ModelInfo | undefined> {
    const s = readSettings();
    if (!s.model) {
      const pick = await vscode.window.showInformationMessage('Refusal Lens has no model configured.', 'Select Model');
      if (pick) await vscode.commands.executeCommand('refusalLens.selectModel');
      return undefined;
    }
    status.setModel(path.basename(s.model));
    try {
      const info = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Refusal Lens: loading ${s.model}`, cancellable: true },
        (progress, token) => {
          const ctl = new AbortController();
          token.onCancellationRequested(() => ctl.abort());
          let done = 0;
          return engine.request(
            'load',
            { model: s.model, dtype: s.dtype, cacheDir: context.globalStorageUri.fsPath, threads: s.threads, allowRemote: s.allowDownloads },
            {
              signal: ctl.signal,
              onProgress: (n) => {
                const increment = n.fraction !== undefined ? Math.max(0, n.fraction * 100 - done) : undefined;
                if (n.fraction !== undefined) done = Math.max(done, n.fraction * 100);
                progress.report({ message: n.message, increment });
              },
            },
          );
        },
      );
      log.info(`loaded ${info.model}: ${info.architecture}, ${info.layers} layers, hidden ${info.hiddenSize}, ${info.residualHooks} residual hooks (${info.residualOps.join(', ')})`);
      return info;
    } catch (e) {
      // A failed load keeps the previous model in the engine (it swaps only on success).
      const previous = engine.loaded?.model;
      status.setModel(previous ? path.basename(previous) : 'no model');
      await report(e, `loading ${s.model}`);
      return undefined;
    }
  }

  const command = (id: string, f: () => Promise<unknown>) => context.subscriptions.push(vscode.commands.registerCommand(id, f));

  command('refusalLens.inspectModel', async () => {
    const info = await loadModel();
    if (!info) return;
    log.info(JSON.stringify(info, null, 2));
    const choice = await vscode.window.showInformationMessage(
      `${info.model}: ${info.architecture}, ${info.layers} layers, hidden ${info.hiddenSize}, ${info.residualHooks} residual hooks.`,
      'Show Details',
    );
    if (choice) log.show();
  });

  command('refusalLens.selectModel', async () => {
    const recent = context.globalState.get<string[]>(RECENT_KEY, []);
    const pick = await vscode.window.showQuickPick(
      [
        { label: '$(folder-opened) Choose a model folder…', id: 'folder' },
        { label: '$(cloud-download) Enter a Hugging Face Hub id…', id: 'hub' },
        ...recent.map((r) => ({ label: r, id: 'recent', description: 'recent' })),
      ],
      { title: 'Refusal Lens: select a model', placeHolder: 'A transformers.js model folder or a Hub id' },
    );
    if (!pick) return;
    let model: string | undefined = pick.label;
    if (pick.id === 'folder') {
      const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model' });
      model = uri?.[0]?.fsPath;
    } else if (pick.id === 'hub') {
      model = await vscode.window.showInputBox({
        title: 'Hugging Face Hub id',
        placeHolder: 'onnx-community/Qwen2.5-0.5B-Instruct',
        validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : 'Expected owner/name'),
      });
    }
    if (!model) return;
    model = model.trim();
    await context.globalState.update(RECENT_KEY, [model, ...recent.filter((r) => r !== model)].slice(0, 8));
    await vscode.workspace.getConfiguration('refusalLens').update('model', model, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('refusalLens.inspectModel');
  });

  command('refusalLens.restartEngine', async () => {
    try {
      const info = await engine.restart();
      if (info) status.setModel(path.basename(info.model));
      void vscode.window.showInformationMessage(info ? `Refusal Lens engine restarted with ${info.model}.` : 'Refusal Lens engine restarted.');
    } catch (e) {
      await report(e, 'restarting the engine');
    }
  });

  command('refusalLens.showLog', async () => log.show());

  command('refusalLens.engineActions', async () => {
    const pick = await vscode.window.showQuickPick(
      [
        { label: '$(debug-restart) Restart Engine', command: 'refusalLens.restartEngine' },
        { label: '$(output) Show Log', command: 'refusalLens.showLog' },
        { label: '$(symbol-class) Select Model…', command: 'refusalLens.selectModel' },
        { label: '$(info) Inspect Model', command: 'refusalLens.inspectModel' },
      ],
      { title: `Refusal Lens engine: ${engine.state}` },
    );
    if (pick) await vscode.commands.executeCommand(pick.command);
  });
}

/** VS Code waits for this promise, so the engine gets its polite shutdown before the host exits. */
export function deactivate(): Promise<void> | undefined {
  return running?.dispose();
}
