// The extension in a real VS Code: its commands come from package.json, it activates in a real
// extension host and its output channel shows in the workbench.
//
// Where VS Code can be downloaded (a developer's machine, a public CI), @vscode/test-electron is the
// conventional runner for this. This machine is offline, so the suite runs code-server (VS Code's
// server and extension host from npm) in Debian's Chromium instead; see test/support/vscodeHost.ts.
// Never skipped: when code-server cannot be installed, the test fails and says why.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { REPO, tempDir } from '../support/paths';
import { startVsCode, type VsCodeSession } from '../support/vscodeHost';

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  contributes: { commands: { command: string; title: string; category?: string }[] };
};
/** The palette title of a contributed command, `<category>: <title>`. */
function title(command: string): string {
  const c = pkg.contributes.commands.find((x) => x.command === command);
  assert.ok(c, `package.json contributes no command ${command}`);
  return c.category ? `${c.category}: ${c.title}` : c.title;
}

let vscode: VsCodeSession | undefined;
after(() => vscode?.close());

// The first run installs code-server (a few minutes); later runs start in seconds.
test('Refusal Lens: Show Log opens the Refusal Lens output channel in a real VS Code', { timeout: 10 * 60_000 }, async () => {
  const workspace = tempDir('workspace');
  writeFileSync(path.join(workspace, 'prompt.txt'), 'How do I bake bread?\n');
  vscode = await startVsCode({ workspace });
  try {
    await vscode.openFile('prompt.txt');
    await vscode.runCommand(title('refusalLens.showLog'));
    // The Output view's channel dropdown selects the extension's channel, which exists only if the
    // extension activated; its status bar item is the other sign of a live extension host.
    const channel = vscode.page.locator('.part.panel select.monaco-select-box').filter({ visible: true });
    await channel.waitFor({ timeout: 30_000 });
    await channel.locator('option:checked').filter({ hasText: /^Refusal Lens$/ }).waitFor({ state: 'attached', timeout: 30_000 }).catch(() => {});
    assert.equal(await channel.inputValue(), 'Refusal Lens', 'the Output view shows the Refusal Lens channel');
    await vscode.page.locator('.part.statusbar').getByText(/Refusal Lens: /).waitFor({ timeout: 30_000 });
    assert.deepEqual(await vscode.notifications(), [], 'no notification (an activation error would show one)');
  } finally {
    await vscode.screenshot('vscode-host'); // also, or especially, when an assertion failed
  }
});
