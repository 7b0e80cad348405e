export * from "./subjects.js";
export * from "./validation.js";
export * from "./common.js";
export * from "./identity.js";
export * from "./hrv.js";
export * from "./sleep.js";
export * from "./oura.js";
