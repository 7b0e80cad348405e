import { Type, type Static } from "@sinclair/typebox";
import { compileValidator } from "@aa/contracts";
import { ouraRequest, type OuraHttp } from "./http.js";

const Nullable = <T extends ReturnType<typeof Type.Number>>(schema: T) =>
  Type.Optional(Type.Union([schema, Type.Null()]));

/**
 * The fields we use of an Oura v2 sleep document (`GET /v2/usercollection/sleep/{document_id}`,
 * model `SleepModel`); the other fields (phases, heart-rate series, ...) are allowed and ignored.
 */
export const OuraSleepDocumentSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    /** The day the sleep belongs to, `YYYY-MM-DD`. */
    day: Type.String({ format: "date" }),
    bedtime_start: Type.String({ format: "date-time" }),
    bedtime_end: Type.String({ format: "date-time" }),
    /** `long_sleep` (the main sleep), `sleep`, `late_nap`, `rest`, `deleted`. */
    type: Type.Optional(Type.String()),
    /** Seconds asleep. */
    total_sleep_duration: Nullable(Type.Number({ minimum: 0 })),
    /** Average HRV (RMSSD) in milliseconds. */
    average_hrv: Nullable(Type.Number()),
    /** Not part of SleepModel today (the sleep score lives in daily_sleep); used when present. */
    score: Nullable(Type.Number()),
  },
  { additionalProperties: true },
);
export type OuraSleepDocument = Static<typeof OuraSleepDocumentSchema>;

const PersonalInfoSchema = Type.Object({ id: Type.String({ minLength: 1 }) }, { additionalProperties: true });

const validateSleepDocument = compileValidator(OuraSleepDocumentSchema);
const validatePersonalInfo = compileValidator(PersonalInfoSchema);

const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });

/** One sleep document of the token's user. */
export function getSleepDocument(http: OuraHttp, accessToken: string, documentId: string): Promise<OuraSleepDocument> {
  const url = `/v2/usercollection/sleep/${encodeURIComponent(documentId)}`;
  return ouraRequest(http, {
    method: "GET",
    url,
    headers: bearer(accessToken),
    validate: validateSleepDocument,
    what: "GET /v2/usercollection/sleep/{document_id}",
  });
}

/** The token's Oura user id (`personal_info.id`): the `user_id` of that user's webhooks. */
export async function getOuraUserId(http: OuraHttp, accessToken: string): Promise<string> {
  const info = await ouraRequest(http, {
    method: "GET",
    url: "/v2/usercollection/personal_info",
    headers: bearer(accessToken),
    validate: validatePersonalInfo,
    what: "GET /v2/usercollection/personal_info",
  });
  return info.id;
}
