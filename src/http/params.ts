/** Query parameters more than one admin route takes. */
import * as v from 'valibot';

/** `limit`: an integer 1–max given as a query string, `fallback` when absent. */
export const limitParam = (max: number, fallback: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, `expected an integer 1-${max}`),
      v.transform(Number),
      v.minValue(1, `expected an integer 1-${max}`),
      v.maxValue(max, `expected an integer 1-${max}`),
    ),
    String(fallback),
  );
