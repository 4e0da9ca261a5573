import Redis from 'ioredis';

/** One short-lived connection: no retries, bounded in time, always disconnected. */
export async function withClient<T>(url: string, timeoutMs: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // ioredis arms this timer on disconnect() even when the socket is already gone (connection refused) and
    // its default of 2 s would then hold a short-lived CLI process open for nothing.
    disconnectTimeout: 100,
  });
  // The 'error' event carries the useful reason (ECONNREFUSED, WRONGPASS); connect() may only say "Connection
  // is closed". Listening also keeps ioredis from printing "Unhandled error event".
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  const attempt = (async () => {
    await client.connect();
    return use(client);
  })();
  attempt.catch(() => undefined); // the timer may win the race; the loser must not become an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (err) {
    throw lastError instanceof Error ? lastError : err;
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
