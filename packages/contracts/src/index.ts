export * from "./subjects.js";
export * from "./validation.js";
export * from "./hrv.js";
