export * from "./http.js";
export * from "./oauth.js";
export * from "./usercollection.js";
export * from "./subscriptions.js";
export * from "./link-token.js";
export * from "./token-crypto.js";
