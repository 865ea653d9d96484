// Runs inside a real VS Code extension host under @vscode/test-cli (`npx vscode-test`, see
// .vscode-test.mjs), on machines that can download VS Code; the playwright flows in
// ../extensionHost.test.ts cover the flows through code-server offline. Here: the extension
// activates with every contributed command registered, the walkthrough opens, and the settings
// carry their scopes and defaults.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';

const REPO = path.resolve(__dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string; contributes: { commands: { command: string }[] } };

describe('Refusal Lens in the extension host', () => {
  it('activates, and every command package.json contributes is registered', async () => {
    const ext = vscode.extensions.getExtension(`${pkg.publisher}.${pkg.name}`);
    assert.ok(ext, 'the extension under development is installed');
    await ext.activate();
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(pkg.contributes.commands.map((c) => c.command).filter((c) => !registered.has(c)), []);
  });

  it('Get Started opens the walkthrough', async () => {
    await vscode.commands.executeCommand('refusalLens.getStarted');
    for (let i = 0; i < 50 && !vscode.window.tabGroups.activeTabGroup.activeTab; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(vscode.window.tabGroups.activeTabGroup.activeTab?.label ?? '', /Welcome|Walkthrough|Get started/i);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('the settings are declared with their scopes: machine for threads, machine-overridable for model and provider', () => {
    const props = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { scope?: string }> } } }).contributes.configuration.properties;
    assert.equal(props['refusalLens.threads'].scope, 'machine');
    assert.equal(props['refusalLens.executionProvider'].scope, 'machine-overridable');
    assert.equal(vscode.workspace.getConfiguration('refusalLens').get('executionProvider'), 'cpu');
  });
});
