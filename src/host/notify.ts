// Failures become one notification with a way forward (the log, another model); the full detail
// goes to the Output channel. Cancellations are the user's own doing and stay quiet.
import * as vscode from 'vscode';
import { EngineRequestError } from './engineClient';

export type Log = vscode.LogOutputChannel;

export async function reportError(log: Log, e: unknown, what: string): Promise<void> {
  const err = e instanceof EngineRequestError ? e : new EngineRequestError('INTERNAL', String((e as Error)?.message ?? e));
  if (err.code === 'CANCELLED') {
    log.info(`${what}: cancelled`);
    return;
  }
  log.error(`${what}: [${err.code}] ${err.message}${err.detail ? `\n${err.detail}` : ''}`);
  // A crash (or a hung engine killed) already has its own notification with a Restart button.
  if (err.engineStopped) return;
  const modelProblem = err.code === 'MODEL_INVALID' || err.code === 'NOT_FOUND' || err.code === 'OFFLINE' || err.code === 'INTEGRITY';
  const [selectModel, showLog] = [vscode.l10n.t('Select Model'), vscode.l10n.t('Show Log')];
  const choice = await vscode.window.showErrorMessage(vscode.l10n.t('Refusal Lens: {0} failed: {1}', what, err.message), ...(modelProblem ? [selectModel, showLog] : [showLog]));
  if (choice === selectModel) await vscode.commands.executeCommand('refusalLens.selectModel');
  else if (choice === showLog) log.show();
}

/** Runs engine work under a cancellable progress notification; the AbortSignal cancels the request. */
export function withEngineProgress<T>(title: string, work: (signal: AbortSignal, report: (message: string, fraction?: number) => void) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Refusal Lens: {0}', title), cancellable: true }, (progress, token) => {
    const ctl = new AbortController();
    token.onCancellationRequested(() => ctl.abort());
    let done = 0;
    return work(ctl.signal, (message, fraction) => {
      // withProgress takes increments; the engine reports fractions.
      const increment = fraction !== undefined ? Math.max(0, fraction * 100 - done) : undefined;
      if (fraction !== undefined) done = Math.max(done, fraction * 100);
      progress.report({ message, increment });
    });
  });
}
