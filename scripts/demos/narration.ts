// What the instructor's demos share: a narrator with colour only on a terminal (never with
// NO_COLOR), the explanations in normal weight (dim text vanishes on a projector), `--pause` to
// wait for Enter between steps, `--compact` for a projector's few lines, and one line per
// answer. The demos are walked through in docs/instructor-guide.md.

import readline from "node:readline";
import { refuseNativeWindows } from "../cli";
import type { Design } from "../designs";
import { Stack, stopOnSignals } from "../processes/stack";
import type { Answer } from "./demo-user";

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = paint("1");
export const green = paint("32");
export const red = paint("31");

export class Narration {
  private step = 0;
  /** compact: no blank line between steps, and each step's title and explanation on one line. */
  constructor(
    private readonly pause: boolean,
    private readonly compact = false,
  ) {}

  async next(title: string, explanation: string): Promise<void> {
    if (this.pause && this.step > 0) await waitForEnter();
    this.step += 1;
    console.log(
      this.compact
        ? `${bold(`${this.step}. ${title}.`)} ${explanation}`
        : `\n${bold(`${this.step}. ${title}`)}\n${explanation}`,
    );
  }
}

/** The design a demo runs when none is given, said in one line so that nobody wonders. */
export function designOrDefault<D extends string>(given: D | undefined, fallback: D, next: string): D {
  if (given !== undefined) return given;
  console.log(`(no --design given: ${fallback}; ${next})`);
  return fallback;
}

function waitForEnter(): Promise<void> {
  if (!process.stdin.isTTY) return Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) =>
    rl.question("   (Enter to go on) ", () => {
      rl.close();
      resolve();
    }),
  );
}

/** One line for an answer: status, instance, and the gist of the body. */
export function describe(answer: Answer): string {
  if (answer.error) return red(`no answer (${answer.error})`);
  const gist = answer.body.error
    ? `${String(answer.body.error)}`
    : answer.body.request_count !== undefined
      ? `request_count ${String(answer.body.request_count)}`
      : Array.isArray(answer.body.files)
        ? `${answer.body.files.length} file(s)`
        : "";
  const text = `${answer.status} from ${answer.servedBy}${gist ? `: ${gist}` : ""}`;
  return answer.status >= 200 && answer.status < 300 ? green(text) : red(text);
}

/**
 * What a narrated demo does first: stop with one line on native Windows, say the default design
 * it chose, and stop everything it will start on Ctrl-C (`running.stack`, once started).
 */
export function beginDemo(
  program: string,
  chosen: { given: Design | undefined; fallback: Design; next: string },
  options: { pause: boolean; compact?: boolean },
): { design: Design; running: { stack?: Stack }; talk: Narration } {
  refuseNativeWindows(program);
  const design = designOrDefault(chosen.given, chosen.fallback, chosen.next);
  const running: { stack?: Stack } = {};
  stopOnSignals(
    () => running.stack,
    (line) => console.log(line),
  );
  return { design, running, talk: new Narration(options.pause, options.compact) };
}
