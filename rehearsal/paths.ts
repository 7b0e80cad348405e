import { BROKEN_NORMALIZE_STEPS, RETIRE_STEP, ROLLBACK_STEPS } from "./rollback-steps.js";
import { STEPS, type Step } from "./steps.js";

const S = STEPS;
const R = ROLLBACK_STEPS;
const UP_TO_KEYS = [
  S.roles,
  S.natsTransition,
  S.opsPod,
  S.backup,
  S.plan,
  S.durables,
  S.knownConsumers,
  S.migrateDatabase,
  S.keys,
];

/** The runbook's production night and each rollback, as ordered lists of its steps. */
export const PATHS: Record<string, Step[]> = {
  /** Everything forward, the soak shortened, then 1.0's access retired (NATS TLS required from then on). */
  forward: [...UP_TO_KEYS, S.newImage, S.handoff, S.modeFlip, S.soak, RETIRE_STEP],
  /** The new image misbehaves before the handoff: back to 1.0 (safe: nothing moved). */
  "rollback-before-handoff": [...UP_TO_KEYS, S.newImage, R.imageRollback],
  /** Rolled back after the handoff and the soak, normalize healthy; then the image too. */
  "rollback-after-handoff": [
    ...UP_TO_KEYS,
    S.newImage,
    S.handoff,
    S.modeFlip,
    S.soak,
    R.moveBack,
    R.revert,
    R.verify,
    R.health,
    R.imageRollback,
  ],
  /** The new normalize crash-loops after the handoff: aa-ops forwards the hot streams' messages to 1.0. */
  "rollback-normalize-broken": [
    ...UP_TO_KEYS,
    S.newImage,
    S.handoff,
    S.modeFlip,
    S.soak,
    BROKEN_NORMALIZE_STEPS.forwardUnprocessed,
    BROKEN_NORMALIZE_STEPS.legacyNormalize,
  ],
};

/** Every step any path plays (the runbook parity test checks these headings). */
export const ALL_STEPS: Step[] = [
  ...Object.values(STEPS),
  ...Object.values(ROLLBACK_STEPS),
  ...Object.values(BROKEN_NORMALIZE_STEPS),
  RETIRE_STEP,
];
