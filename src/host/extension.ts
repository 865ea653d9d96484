// Extension entry: owns the engine client, the log channel and the status bar, and wires the
// features (model management, Score, Ablation Diff, Direction Explorer). Every model result comes
// from the engine process.
import * as vscode from 'vscode';
import { HUB_ID } from '../protocol';
import { AblationFeature } from './ablation';
import { trackContextKeys } from './contextKeys';
import { DirectionStore } from './directions';
import { EngineClient } from './engineClient';
import { ExplorerFeature } from './explorer';
import { ModelManager, ORGANISM_LABEL } from './models';
import { reportError } from './notify';
import { ScoreFeature } from './score';
import { engineTimeoutMs, proxyEnv } from './settings';
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
    hangTimeout: engineTimeoutMs,
  });
  running = engine;
  const models = new ModelManager(engine, context.globalState, context.globalStorageUri, status, log);
  const directions = new DirectionStore(context.globalState, context.globalStorageUri);
  const services = { extensionUri: context.extensionUri, engine, models, directions, log };
  const explorer = new ExplorerFeature(services);
  // Score shows an extraction it asked the explorer for (stage, progress, Cancel) in its own panel.
  const features = [models, directions, new ScoreFeature(services, explorer), new AblationFeature(services), explorer];
  context.subscriptions.push(log, status, ...features, trackContextKeys(models, directions), { dispose: () => void engine.dispose() });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['refusalLens.model', 'refusalLens.dtype', 'refusalLens.threads', 'refusalLens.executionProvider', 'refusalLens.template'].some((k) => e.affectsConfiguration(k))) models.showConfigured();
    }),
  );
  engine.onState((state) => {
    status.setState(state);
    if (state === 'crashed') void offerRestart();
  });

  async function offerRestart(): Promise<void> {
    // Why it ended (out of memory, hung past refusalLens.engine.timeoutSeconds, killed, exited).
    const failure = engine.lastFailure;
    const hung = failure?.code === 'ENGINE_HUNG' ? vscode.l10n.t(' (a very large model may need a longer refusalLens.engine.timeoutSeconds)') : '';
    const message = failure ? vscode.l10n.t('The Refusal Lens engine stopped unexpectedly: {0}{1}', failure.message, hung) : vscode.l10n.t('The Refusal Lens engine stopped unexpectedly.');
    const [restart, showLog] = [vscode.l10n.t('Restart Engine'), vscode.l10n.t('Show Log')];
    const choice = await vscode.window.showErrorMessage(message, restart, showLog);
    if (choice === restart) await vscode.commands.executeCommand('refusalLens.restartEngine');
    if (choice === showLog) log.show();
  }

  const command = (id: string, f: () => Promise<unknown>) => context.subscriptions.push(vscode.commands.registerCommand(id, f));

  command('refusalLens.inspectModel', async () => {
    const info = await models.load();
    if (!info) return;
    log.info(JSON.stringify(info, null, 2));
    const choice = await vscode.window.showInformationMessage(
      vscode.l10n.t('{0}: {1}, {2} layers, hidden {3}, {4} residual hooks, on {5}{6}.', models.label(), info.architecture, info.layers, info.hiddenSize, info.residualHooks, info.provider ?? 'cpu', info.layout === 'split' ? vscode.l10n.t(' (split layout: embedding graph, then the decoder)') : ''),
      vscode.l10n.t('Show Details'),
    );
    if (choice) log.show();
  });

  command('refusalLens.selectModel', async () => {
    const recent = context.globalState.get<string[]>(RECENT_KEY, []);
    const pick = await vscode.window.showQuickPick(
      [
        { label: `$(folder-opened) ${vscode.l10n.t('Choose a model folder…')}`, id: 'folder' },
        { label: `$(cloud-download) ${vscode.l10n.t('Enter a Hugging Face Hub id…')}`, id: 'hub' },
        { label: `$(beaker) ${vscode.l10n.t('The {0}', ORGANISM_LABEL)}`, id: 'organism', description: vscode.l10n.t('a tiny model with a planted refusal circuit; works offline') },
        ...recent.map((r) => ({ label: r, id: 'recent', description: vscode.l10n.t('recent') })),
      ],
      { title: vscode.l10n.t('Refusal Lens: select a model'), placeHolder: vscode.l10n.t('A transformers.js model folder or a Hub id') },
    );
    if (!pick) return;
    let model: string | undefined = pick.label;
    if (pick.id === 'organism') model = '';
    else if (pick.id === 'folder') {
      const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Use this model') });
      model = uri?.[0]?.fsPath;
    } else if (pick.id === 'hub') {
      model = await vscode.window.showInputBox({
        title: vscode.l10n.t('Hugging Face Hub id'),
        placeHolder: 'onnx-community/Qwen2.5-0.5B-Instruct',
        validateInput: (v) => (HUB_ID.test(v.trim()) ? undefined : vscode.l10n.t('Expected owner/name')),
      });
    }
    if (model === undefined) return;
    model = model.trim();
    if (model) await context.globalState.update(RECENT_KEY, [model, ...recent.filter((r) => r !== model)].slice(0, 8));
    await vscode.workspace.getConfiguration('refusalLens').update('model', model, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('refusalLens.inspectModel');
  });

  command('refusalLens.restartEngine', async () => {
    try {
      const info = await engine.restart();
      models.restarted(info);
      void vscode.window.showInformationMessage(info ? vscode.l10n.t('Refusal Lens engine restarted with {0}.', models.label()) : vscode.l10n.t('Refusal Lens engine restarted.'));
    } catch (e) {
      await reportError(log, e, 'restarting the engine');
    }
  });

  command('refusalLens.showLog', async () => log.show());

  // The walkthrough contributed in package.json (contributes.walkthroughs, id 'start').
  command('refusalLens.getStarted', () => Promise.resolve(vscode.commands.executeCommand('workbench.action.openWalkthrough', `${context.extension.id}#start`, false)));

  command('refusalLens.engineActions', async () => {
    const pick = await vscode.window.showQuickPick(
      [
        { label: `$(debug-restart) ${vscode.l10n.t('Restart Engine')}`, command: 'refusalLens.restartEngine' },
        { label: `$(output) ${vscode.l10n.t('Show Log')}`, command: 'refusalLens.showLog' },
        { label: `$(symbol-class) ${vscode.l10n.t('Select Model…')}`, command: 'refusalLens.selectModel' },
        { label: `$(info) ${vscode.l10n.t('Inspect Model')}`, command: 'refusalLens.inspectModel' },
        { label: `$(book) ${vscode.l10n.t('Get Started')}`, command: 'refusalLens.getStarted' },
      ],
      { title: vscode.l10n.t('Refusal Lens engine: {0}', engine.state) },
    );
    if (pick) await vscode.commands.executeCommand(pick.command);
  });
}

/** VS Code waits for this promise, so the engine gets its polite shutdown before the host exits. */
export function deactivate(): Promise<void> | undefined {
  return running?.dispose();
}
