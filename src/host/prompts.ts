// Where a command's prompt comes from in an editor: the selection, else the paragraph (the block of
// non-blank lines) around the cursor.
import * as vscode from 'vscode';

export interface EditorPrompt {
  text: string;
  range: vscode.Range;
  document: vscode.TextDocument;
}

export function promptAt(editor: vscode.TextEditor): EditorPrompt | string {
  const doc = editor.document;
  const sel = editor.selection;
  if (!sel.isEmpty) {
    const text = doc.getText(sel);
    return text.trim() ? { text, range: sel, document: doc } : 'the selection is only whitespace; select the prompt to score';
  }
  const line = sel.active.line;
  if (doc.lineAt(line).isEmptyOrWhitespace) return 'the cursor is on an empty line; put it in a prompt or select one';
  let first = line;
  let last = line;
  while (first > 0 && !doc.lineAt(first - 1).isEmptyOrWhitespace) first--;
  while (last < doc.lineCount - 1 && !doc.lineAt(last + 1).isEmptyOrWhitespace) last++;
  const range = new vscode.Range(first, 0, last, doc.lineAt(last).text.length);
  return { text: doc.getText(range), range, document: doc };
}

/** The prompt in the active editor, or undefined after telling the user what to do instead. */
export function activePrompt(noEditorHint: string): EditorPrompt | undefined {
  const editor = vscode.window.activeTextEditor;
  const prompt = editor ? promptAt(editor) : noEditorHint;
  if (typeof prompt === 'string') {
    void vscode.window.showWarningMessage(`Refusal Lens: ${prompt}.`);
    return undefined;
  }
  return prompt;
}
