// Context keys for `when` clauses: commands appear (in the palette, the view's title bar) only when
// they can run. `refusalLens.hasActiveDirection`: the model in use (loaded, or last loaded for the
// configured setting) has an active direction, which Export Active Direction and Export Abliterated
// Model need.
import * as vscode from 'vscode';
import type { DirectionStore } from './directions';
import type { ModelManager } from './models';

export const HAS_ACTIVE_DIRECTION = 'refusalLens.hasActiveDirection';

export function trackContextKeys(models: ModelManager, directions: DirectionStore): vscode.Disposable {
  const update = () => {
    const info = models.known();
    void vscode.commands.executeCommand('setContext', HAS_ACTIVE_DIRECTION, !!info && directions.hasActive(info));
  };
  update();
  return vscode.Disposable.from(
    models.onDidChange(update),
    directions.onDidChange(update),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('refusalLens.model') && update()),
  );
}
