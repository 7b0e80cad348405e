import { Type } from "@sinclair/typebox";
import { compileValidator, HrvRawReceivedSchema, withDateRules } from "@aa/contracts";

/**
 * 1.0's `athlete-ally.hrv.raw-received`: today's envelope without `source` (added with scoped reading
 * identity), and like then closed to other properties, so 1.0's normalize refuses an event that has it.
 */
const { source: _scoped, ...legacyProperties } = HrvRawReceivedSchema.properties;
export const LegacyHrvRawReceivedSchema = Type.Object(legacyProperties, { additionalProperties: false });
export const validateLegacyHrvRawReceived = withDateRules(compileValidator(LegacyHrvRawReceivedSchema));

/** The 1.0 envelope of a reading (what `aa-ops` down-converts to, and what 1.0's ingest published). */
export const LEGACY_STREAM = "ATHLETE_ALLY_EVENTS";
export const LEGACY_HRV_DURABLE = "normalize-hrv-durable";
