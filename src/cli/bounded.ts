/**
 * Shutting down talks to Redis; if Redis is gone that could wait forever. A stop must end: after `ms`,
 * `what` is abandoned with a warning (jobs still running are resumed elsewhere from their snapshots).
 */
export async function bounded<T>(what: Promise<T>, ms: number, onTimeout: () => void): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => { onTimeout(); resolve(undefined); }, ms);
  });
  try {
    return await Promise.race([what, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
