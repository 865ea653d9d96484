// Counters the engine keeps about its own work, reported by the `stats` method: how many
// onnxruntime sessions were opened and how many runs finished. Cancellation tests compare the run
// count when a cancel note arrives with the count when the request is answered.
export const counters = { sessionRuns: 0, sessionsOpened: 0 };
