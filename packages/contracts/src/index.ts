export * from "./subjects.js";
export * from "./validation.js";
export * from "./common.js";
export * from "./identity.js";
export * from "./reading-kind.js";
export * from "./reading-kinds.js";
export * from "./oura.js";
