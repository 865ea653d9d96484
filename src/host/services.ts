// What every feature of the extension works with: the engine, the loaded model, the directions
// store and the log.
import type * as vscode from 'vscode';
import type { DirectionStore } from './directions';
import type { EngineClient } from './engineClient';
import type { ModelManager } from './models';
import type { Log } from './notify';

export interface Services {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  models: ModelManager;
  directions: DirectionStore;
  log: Log;
}
