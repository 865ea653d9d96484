// Status bar item: which model is loaded and what the engine is doing; a click offers the actions
// that fit the state (restart after a crash, show the log, pick another model).
import * as vscode from 'vscode';
import type { EngineState } from './engineClient';

const ICON: Record<EngineState, string> = {
  stopped: '$(circle-outline)',
  starting: '$(loading~spin)',
  ready: '$(pass)',
  busy: '$(loading~spin)',
  crashed: '$(error)',
};

export class EngineStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('refusalLens.engine', vscode.StatusBarAlignment.Left, 10);
  private model = 'no model';
  private state: EngineState = 'stopped';

  constructor() {
    this.item.name = 'Refusal Lens engine';
    this.item.command = 'refusalLens.engineActions';
    this.render();
    this.item.show();
  }

  setModel(model: string): void {
    this.model = model;
    this.render();
  }

  setState(state: EngineState): void {
    this.state = state;
    this.render();
  }

  private render(): void {
    this.item.text = `${ICON[this.state]} Refusal Lens: ${this.model}`;
    this.item.tooltip = `Engine ${this.state}. Click for engine actions, or Get Started for a walkthrough.`;
    this.item.accessibilityInformation = { label: `Refusal Lens engine ${this.state}, model ${this.model}` };
    this.item.backgroundColor = this.state === 'crashed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
