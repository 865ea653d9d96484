// Out-of-memory failures, recognised by their text wherever they surface: onnxruntime's arena
// ("Failed to allocate memory for requested buffer"), a thread or mapping the system refused
// ("Cannot allocate memory", ENOMEM), C++'s std::bad_alloc, V8's fatal "JavaScript heap out of
// memory", or a typed array that could not get its buffer ("Array buffer allocation failed").
const OUT_OF_MEMORY = /Failed to allocate memory|Cannot allocate memory|std::bad_alloc|heap out of memory|Array buffer allocation failed|\bENOMEM\b/i;

export const OUT_OF_MEMORY_ADVICE = 'try a smaller dtype (q4), fewer prompts or a shorter prompt';

/** The out-of-memory phrase of a message and what follows it on its line, or undefined if it is none. */
export function outOfMemoryText(message: string): string | undefined {
  const m = OUT_OF_MEMORY.exec(message);
  return m ? message.slice(m.index).split('\n')[0].trim() : undefined;
}

/**
 * A line of a dying process's last output saying it ran out of memory: V8's fatal error, or
 * libstdc++'s verbose terminate handler on an uncaught std::bad_alloc (its `what():` line alone
 * counts, as the `terminate called` line before it can be lost).
 */
export function isFatalOutOfMemory(line: string): boolean {
  return /FATAL ERROR:.*out of memory|Fatal process out of memory|terminate called after throwing an instance of 'std::bad_alloc'|^\s*what\(\):\s+std::bad_alloc\s*$/i.test(line);
}
