// One polling wait for the tests and start-local; kept here so tests import their helpers from one place.
export { waitFor } from "@aa/local-stack";
