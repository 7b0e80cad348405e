export {
  API_KEY_PREFIX,
  generateApiKey,
  hashSecret,
  parseApiKey,
  secretMatches,
  type NewApiKey,
  type ParsedApiKey,
} from "./key-format.js";
export {
  createApiKey,
  findApiKey,
  listApiKeys,
  loadApiKeys,
  revokeApiKey,
  stateOf,
  type ApiKeyRecord,
  type ApiKeyState,
  type CreateApiKey,
  type StoredApiKey,
} from "./repository.js";
