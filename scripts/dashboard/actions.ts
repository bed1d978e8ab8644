// The live view's controls, as one table: RaftScope keeps its actions in one list from which its
// page is drawn, and so does this view. Each row is a control's name (the POST /actions/<name>),
// its key, its label, what it needs, what it runs and the sentence the help overlay shows; the
// page renders its buttons, keys and help from the rows it is sent, and the server checks and
// runs a request from the same rows (docs/instructor-guide.md, "The 10-minute demo").

import type { Classroom } from "./classroom";

/** What a control needs besides the press: an instance (the selected lane), a store (phase 2), a design or a strategy. */
export type Need = "instance" | "store" | "design" | "strategy" | null;

/**
 * Where the page puts its button: in each instance's lane, in the cluster's bar, in the header,
 * or nowhere (a control reached through another's `toggle`).
 */
export type Place = "lane" | "bar" | "header" | "none";

export interface Action {
  name: string;
  /** The key that does it on the page (lower case; " " is the space bar). */
  key: string;
  label: string;
  needs: Need;
  place: Place;
  /** What the help overlay says it does. */
  sentence: string;
  /** Runs at once rather than after the actions queued before it (pause must not wait behind a 5 s freeze). */
  immediate?: boolean;
  /** A lane's control: the instance state in which it can be pressed. */
  when?: "up" | "down";
  /** The control the same button and key send instead while the users are paused (pause: resume). */
  toggle?: string;
  /** Does it, once checked and queued; `value` is the instance's id, the design or the strategy it needs. */
  run(room: Classroom, value: string | undefined): Promise<void>;
}

export const ACTIONS: readonly Action[] = [
  {
    name: "kill",
    key: "k",
    label: "Kill",
    needs: "instance",
    place: "lane",
    sentence: "SIGKILL the selected instance: it dies at once, with whatever it held in memory.",
    when: "up",
    run: (room, id) => room.killInstance(id as string),
  },
  {
    name: "stop",
    key: "s",
    label: "Stop",
    needs: "instance",
    place: "lane",
    sentence: "SIGTERM the selected instance: it finishes its requests, then exits, and stays down.",
    when: "up",
    run: (room, id) => room.stopInstance(id as string),
  },
  {
    name: "start",
    key: "t",
    label: "Start",
    needs: "instance",
    place: "lane",
    sentence: "Start the selected instance again, with empty memory.",
    when: "down",
    run: (room, id) => room.startInstance(id as string),
  },
  {
    name: "rolling-deploy",
    key: "d",
    label: "Rolling deploy",
    needs: null,
    place: "bar",
    sentence: "Restart each instance in turn: SIGTERM, start, wait until it is ready.",
    run: (room) => room.rollingDeploy(),
  },
  {
    name: "redis-restart",
    key: "r",
    label: "Restart Redis",
    needs: "store",
    place: "bar",
    sentence:
      "Restart Redis as a Redis without persistence restarts: it comes back empty. On replicated Redis: SIGKILL the primary; a replica is promoted and the old one rejoins as a replica.",
    run: (room) => room.restartRedis(),
  },
  {
    name: "redis-stop",
    key: "x",
    label: "Stop Redis",
    needs: "store",
    place: "bar",
    sentence:
      "SIGTERM Redis (the primary, on replicated Redis); it stays down until Start Redis. Its append-only log keeps its data.",
    run: (room) => room.stopRedis(),
  },
  {
    name: "redis-start",
    key: "y",
    label: "Start Redis",
    needs: "store",
    place: "bar",
    sentence: "Start a stopped Redis again, with the data its append-only log kept.",
    run: (room) => room.startRedis(),
  },
  {
    name: "redis-freeze",
    key: "f",
    label: "Freeze Redis",
    needs: "store",
    place: "bar",
    sentence:
      "SIGSTOP Redis (the primary, on replicated Redis) for 5 s, then SIGCONT: a stalled process, or a network pause.",
    run: (room) => room.freezeRedis(),
  },
  {
    name: "burst",
    key: "c",
    label: "Concurrent burst",
    needs: null,
    place: "bar",
    sentence: "One user fires ten uploads at once, each on its own connection, then reads its session view.",
    run: (room) => room.fireBurst(),
  },
  {
    name: "pause",
    key: " ",
    label: "Pause",
    needs: null,
    place: "bar",
    sentence: "The users finish what they are doing, then wait (the same key resumes them).",
    immediate: true,
    toggle: "resume",
    run: async (room) => room.setPaused(true),
  },
  {
    name: "resume",
    key: " ",
    label: "Resume",
    needs: null,
    place: "none",
    sentence: "The paused users go on.",
    immediate: true,
    run: async (room) => room.setPaused(false),
  },
  {
    name: "reset",
    key: "0",
    label: "Reset",
    needs: null,
    place: "bar",
    sentence: "Every process running again, new users, every figure back to 0.",
    run: (room) => room.reset(),
  },
  {
    name: "design",
    key: "n",
    label: "Design",
    needs: "design",
    place: "header",
    sentence: "Switch to the next design: the cluster restarts with it.",
    run: (room, design) => room.switchDesign(design as string),
  },
  {
    name: "balancer",
    key: "b",
    label: "Balancer",
    needs: "strategy",
    place: "header",
    sentence: "Switch the balancer between round robin and sticky: the cluster restarts.",
    run: (room, strategy) => room.switchBalancer(strategy as string),
  },
];

/** The row of an action by its name, or undefined for an unknown one (the POST answers 404). */
export function findAction(name: string | undefined): Action | undefined {
  return ACTIONS.find((action) => action.name === name);
}

/** What the page is sent of the table: everything but `run`. */
export function actionsForPage(): Array<Omit<Action, "run">> {
  return ACTIONS.map(({ run: _run, ...shown }) => shown);
}
