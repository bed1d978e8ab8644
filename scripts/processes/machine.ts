// What machine a run is on, and how busy it is: the cores and CPU every report records, and
// the load a cell met (the load average, and the event-loop delay of the program that runs the
// cell), printed beside every disagreement so that a busy laptop stays visible
// (docs/how-the-lab-works.md, "Reading the reports").

import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface MachineInfo {
  cores: number;
  platform: string;
  arch: string;
  cpu: string;
}

/** The machine, as every report records it. */
export function machine(): MachineInfo {
  return {
    cores: os.cpus().length,
    platform: process.platform,
    arch: process.arch,
    cpu: os.cpus()[0]?.model ?? "unknown",
  };
}

/** The machine's 1-minute load average at the cell's end, and the lab's own event-loop delay during it (its 99th percentile). */
export interface MachineLoad {
  load_average: number;
  event_loop_delay_ms: number;
}

/** Measures the lab's event-loop delay from now until the first call of the function it returns (later calls answer the same). */
export function watchLoad(): () => MachineLoad {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let measured: MachineLoad | undefined;
  return () => {
    if (!measured) {
      delay.disable();
      measured = {
        load_average: Math.round(os.loadavg()[0] * 100) / 100,
        event_loop_delay_ms: Math.round(delay.percentile(99) / 1e5) / 10,
      };
    }
    return measured;
  };
}
