// Preloaded into the servers of the benchmark's memory part (node --expose-gc --require ...):
// on SIGUSR2 it runs a full garbage collection and writes process.memoryUsage() to
// BENCH_HEAP_FILE, so that the bench can report the V8 heap that live sessions really hold
// next to the RSS, which also carries the heap's own growth. Bench-only: the servers know
// nothing of it. Explained in docs/how-the-lab-works.md ("The benchmark harness").

import { renameSync, writeFileSync } from "node:fs";

const file = process.env.BENCH_HEAP_FILE;
if (file) {
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
    renameSync(`${file}.tmp`, file); // the bench never reads half a file
  });
}
