import type { StateValue } from 'xstate';

/** `{evacuating: 'waitActive'}` → `evacuating.waitActive`; parallel regions joined with `|`. */
export function statePath(value: StateValue | undefined): string {
  if (value === undefined) return '(none)';
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([key, sub]) => {
      const inner = statePath(sub as StateValue);
      return inner && Object.keys(sub as object).length !== 0 ? `${key}.${inner}` : key;
    })
    .join('|');
}
